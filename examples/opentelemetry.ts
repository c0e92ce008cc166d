/**
 * flowstore's spans and metrics, with an OpenTelemetry SDK registered as an application would, before
 * the store opens:
 *
 *   npx tsx examples/opentelemetry.ts
 *
 * A request enqueues a job; a worker runs it and writes to the store. The trace goes from the request
 * through "send emails" to "process emails" and the handler's own store calls, in one tree, printed
 * here; then the metrics the store reported. Swap the in-memory exporter and reader for OTLP ones
 * (@opentelemetry/exporter-trace-otlp-http, @opentelemetry/sdk-node) to send them to a collector.
 */
import { context, metrics, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { openStore } from "flowstore";

class PullReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

// #region register
// Providers registered before the store opens (an application would register NodeSDK with OTLP exporters).
const spans = new InMemorySpanExporter();
const reader = new PullReader();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

const store = await openStore({ connection: "memory" }); // reports to the registered providers
// #endregion
let handled = false;
const worker = store.jobs.work({
  queue: "emails",
  handler: async (job) => {
    await store.kv.set("sent", job.id, "yes");
    handled = true;
  },
});
await trace.getTracer("shop").startActiveSpan("POST /orders", async (request) => {
  await store.jobs.enqueue({ queue: "emails", name: "receipt", payload: { to: "ada@example.com" } });
  request.end();
});
while (!handled) await new Promise((resolve) => setTimeout(resolve, 20));
await worker.stop();

// The trace as a tree: each span under its parent.
const finished = spans.getFinishedSpans();
const children = (parent: string | undefined) =>
  finished.filter((span) => span.parentSpanContext?.spanId === parent);
const print = (span: ReadableSpan, depth: number) => {
  const kind = ["internal", "server", "client", "producer", "consumer"][span.kind];
  process.stdout.write(`${"  ".repeat(depth)}${span.name} (${kind})\n`);
  for (const child of children(span.spanContext().spanId)) print(child, depth + 1);
};
for (const root of children(undefined)) print(root, 0);

const { resourceMetrics } = await reader.collect();
for (const metric of resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)) {
  const points = metric.dataPoints.map((point) => {
    const value = point.value as number | { count: number };
    return typeof value === "number" ? value : `${value.count} recorded`;
  });
  process.stdout.write(`${metric.descriptor.name}: ${points.join(", ")}\n`);
}
await store.close();
