/**
 * Pool options: the knobs for the node-postgres pool, their defaults, and their validation.
 *
 * Kept apart from the connection settings because they say how many connections to hold and for
 * how long, not where to connect; `ConnectionConfig.toPgConfig` combines the two.
 */

import { ValidationError } from "../core/errors.js";
import { refuseUnknownKeys } from "../core/input.js";

export interface PoolOptions {
  max?: number;
  min?: number;
  idleTimeoutMs?: number;
  /** 0 keeps connections for ever. */
  maxLifetimeMs?: number;
  connectionTimeoutMs?: number;
  /** 0 leaves the server's statement_timeout alone. */
  statementTimeoutMs?: number;
  applicationName?: string;
}

export const POOL_DEFAULTS: Readonly<Required<PoolOptions>> = Object.freeze({
  max: 10,
  min: 0,
  idleTimeoutMs: 10_000,
  maxLifetimeMs: 0,
  connectionTimeoutMs: 5_000,
  statementTimeoutMs: 0,
  applicationName: "flowstore",
});
/** The keys a pool's options may have. */
export const POOL_KEYS: ReadonlySet<string> = new Set(Object.keys(POOL_DEFAULTS));

/** DATABASE_MAX_CONNECTIONS and DATABASE_MIN_CONNECTIONS, when set (see store-environment.ts). */
export type EnvironmentPool = Pick<PoolOptions, "max" | "min">;

/**
 * The pool a store opens with: each field as given, else from the environment, else its default; then
 * checked. A min above the max where either came from the environment names the variable.
 */
export function resolvePoolOptions(
  options: PoolOptions = {},
  fromEnv: EnvironmentPool = {},
): Required<PoolOptions> {
  const resolved = { ...POOL_DEFAULTS };
  // A misspelt option would otherwise be ignored without a word.
  refuseUnknownKeys(options, POOL_KEYS, "pool");
  for (const key of Object.keys(POOL_DEFAULTS) as (keyof PoolOptions)[]) {
    const value = options[key];
    if (value === undefined) continue;
    if (key === "applicationName") {
      if (typeof value !== "string") {
        throw new ValidationError("pool.applicationName must be a string", { field: "pool.applicationName" });
      }
      resolved.applicationName = value;
    } else {
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
        throw new ValidationError(`pool.${key} must be a non-negative integer, got ${String(value)}`, {
          field: `pool.${key}`,
        });
      }
      resolved[key] = value;
    }
  }
  // The environment's counts were checked as they were read.
  const envMax = options.max === undefined && fromEnv.max !== undefined;
  const envMin = options.min === undefined && fromEnv.min !== undefined;
  if (envMax) resolved.max = fromEnv.max as number;
  if (envMin) resolved.min = fromEnv.min as number;
  if (resolved.max < 1) {
    throw new ValidationError(`pool.max must be at least 1, got ${resolved.max}`, { field: "pool.max" });
  }
  if (resolved.min > resolved.max) throw minAboveMax(resolved, options, envMax, envMin);
  return resolved;
}

function minAboveMax(
  { min, max }: Required<PoolOptions>,
  options: PoolOptions,
  envMax: boolean,
  envMin: boolean,
): ValidationError {
  if (!envMax && !envMin) {
    return new ValidationError(`pool.min (${min}) must not exceed pool.max (${max})`, { field: "pool.min" });
  }
  const maxName = envMax
    ? "DATABASE_MAX_CONNECTIONS"
    : options.max === undefined
      ? "the default max"
      : "pool.max";
  const minName = envMin ? "DATABASE_MIN_CONNECTIONS" : "pool.min";
  return new ValidationError(`${minName} (${min}) must not exceed ${maxName} (${max})`, {
    field: envMin ? "DATABASE_MIN_CONNECTIONS" : "DATABASE_MAX_CONNECTIONS",
  });
}
