/**
 * Loads `@opentelemetry/api` when the application has it (an optional peer dependency): by default
 * the store uses it if installed, and loads nothing and costs nothing if not.
 */

import type * as Api from "@opentelemetry/api";
import { importWithPeers, isMissingModule } from "../config/peers.js";
import { ValidationError } from "../core/errors.js";
import type { Telemetry } from "../core/telemetry.js";
import { OpenTelemetry } from "./otel.js";
import type { TelemetryProviders } from "./providers.js";

export interface TelemetryOptions extends TelemetryProviders {
  /**
   * Report the queue's depth, running and dead jobs and oldest ready age as gauges, read from the
   * database at each metric collection (default true).
   */
  queueGauges?: boolean;
}

/**
 * `true`: OpenTelemetry, through the providers registered with `@opentelemetry/api` (an error if it is
 * not installed); `false`: none; options: with these providers. Unset: as `true` when the API is
 * installed, else none.
 */
export type TelemetryOption = boolean | TelemetryOptions;

export function checkTelemetryOption(option: unknown): TelemetryOption | undefined {
  if (option === undefined || typeof option === "boolean") return option;
  if (typeof option === "object" && option !== null && !Array.isArray(option))
    return option as TelemetryOptions;
  throw new ValidationError(
    "telemetry must be true, false or { tracerProvider, meterProvider, queueGauges }",
    {
      field: "telemetry",
    },
  );
}

export async function loadTelemetry(
  option: TelemetryOption | undefined,
  namespace: string,
): Promise<Telemetry | undefined> {
  if (option === false) return undefined;
  const load = () => import("@opentelemetry/api");
  let api: typeof Api;
  if (option === undefined) {
    try {
      api = await load();
    } catch (error) {
      if (isMissingModule(error, ["@opentelemetry/api"])) return undefined;
      throw error;
    }
  } else {
    api = await importWithPeers(load, ["@opentelemetry/api"], "telemetry", "telemetry");
  }
  return new OpenTelemetry(api, namespace, typeof option === "object" ? option : {});
}
