/** OpenTelemetry for the store: what the store puts together (see otel.ts). */

export { observeQueues, type QueueFigures } from "./gauges.js";
export { checkTelemetryOption, loadTelemetry, type TelemetryOption, type TelemetryOptions } from "./load.js";
export { OpenTelemetry, type TelemetryProviders } from "./otel.js";
export { traced } from "./traced.js";
