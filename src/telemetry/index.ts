/** OpenTelemetry for the store: what the store puts together (see otel.ts). */

export { checkTelemetryOption, loadTelemetry, type TelemetryOption, type TelemetryOptions } from "./load.js";
export type { TelemetryProviders } from "./providers.js";
export { traced } from "./traced.js";
