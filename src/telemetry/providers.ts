/**
 * What `openStore({ telemetry })` may name instead of the globally registered providers: typed by
 * their shape, so the store's public types never need `@opentelemetry/api` installed.
 */
export interface TelemetryProviders {
  /** Spans go to this provider's tracer (default: the one registered with the API). */
  tracerProvider?: { getTracer(name: string, version?: string): unknown };
  /** Metrics go to this provider's meter (default: the one registered with the API when the store opens). */
  meterProvider?: { getMeter(name: string, version?: string): unknown };
}
