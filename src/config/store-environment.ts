/**
 * Everything a store takes from the environment when it opens, read in one place: where to connect
 * (environment.ts) or the embedded database's directory, pool size, statement logging and S3 blob
 * storage, under the names other PostgreSQL state stores use (DATABASE_MAX_CONNECTIONS, S3_BUCKET,
 * ENABLE_STATEMENT_LOGGING...), so one environment serves both.
 *
 * Pure: it reads the environment it is given and validates it; openStore and openDriver decide what an
 * explicit option overrides. No message ever carries a password or secret key.
 */

import { redact, ValidationError } from "../core/errors.js";
import type { ConnectionConfig } from "./connection-config.js";
import type { ConnectionFields } from "./connection-string.js";
import { resolveConnection } from "./environment.js";
import type { EnvironmentPool } from "./pool.js";

/** What `s3()` is built from when S3_BUCKET is set; undefined fields are left to the AWS SDK. */
export interface S3Settings {
  bucket: string;
  region: string | undefined;
  endpoint: string | undefined;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  forcePathStyle: boolean;
}

export interface StoreEnvironment {
  /**
   * The server to connect to, from the connection option over DATABASE_URL, PG* and POSTGRES_*
   * (resolveConnection); undefined for the embedded database, or when the connection variables were
   * not read.
   */
  server: ConnectionConfig | undefined;
  /** FLOWSTORE_DATA_DIR, when set (empty is unset). */
  dataDir: string | undefined;
  /** DATABASE_MAX_CONNECTIONS and DATABASE_MIN_CONNECTIONS, when set. */
  pool: EnvironmentPool;
  /** FLOWSTORE_LOG_STATEMENTS, else ENABLE_STATEMENT_LOGGING; undefined when neither is set. */
  logStatements: boolean | undefined;
  /** Blob storage in S3: present exactly when S3_BUCKET is set. */
  s3: S3Settings | undefined;
}

/** The S3_* variables that mean nothing without S3_BUCKET. */
const S3_ONLY_WITH_BUCKET = [
  "S3_ENDPOINT",
  "S3_REGION",
  "S3_ACCESS_KEY_ID",
  "S3_SECRET_ACCESS_KEY",
  "S3_USE_PATH_STYLE",
] as const;

/** What a store opens with that decides which variables matter. */
export interface StoreEnvironmentOptions {
  /**
   * The connection option, when it names a server or nothing (then the environment says where to
   * connect); null for a store that connects through something else (a pool, a PGlite instance,
   * memory), which leaves the connection variables unread.
   */
  connection?: string | ConnectionFields | null;
  /** False for a store given its blob backend explicitly: the S3 variables are left unread. */
  s3?: boolean;
}

/**
 * Reads and validates the store's settings in `env`, in the order their errors are reported: pool
 * size, statement logging, S3, then where to connect.
 *
 * AWS_* variables: the AWS SDK itself reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL, but only from `process.env`. So when `env` is
 * `process.env` they are left to the SDK (its credential chain, profiles and instance roles
 * included); when another environment is given, the values in it are handed over explicitly. The
 * region is picked here (S3_REGION, AWS_REGION, then AWS_DEFAULT_REGION, which the SDK does not read;
 * s3() falls back to us-east-1).
 */
export function readStoreEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  options: StoreEnvironmentOptions = {},
): StoreEnvironment {
  const get = (name: string) => env[name] || undefined;
  const secrets = [get("S3_SECRET_ACCESS_KEY"), get("AWS_SECRET_ACCESS_KEY"), get("AWS_SESSION_TOKEN")];
  const hidden = (text: string) =>
    redact(
      text,
      secrets.filter((s): s is string => s !== undefined),
    );

  const max = count(env, "DATABASE_MAX_CONNECTIONS", 1, hidden);
  const min = count(env, "DATABASE_MIN_CONNECTIONS", 0, hidden);
  if (max !== undefined && min !== undefined && min > max) {
    throw new ValidationError(
      `DATABASE_MIN_CONNECTIONS (${min}) must not exceed DATABASE_MAX_CONNECTIONS (${max})`,
      { field: "DATABASE_MIN_CONNECTIONS" },
    );
  }
  const pool: EnvironmentPool = {};
  if (max !== undefined) pool.max = max;
  if (min !== undefined) pool.min = min;

  const flowstoreLogging = get("FLOWSTORE_LOG_STATEMENTS");
  const logStatements =
    flowstoreLogging !== undefined
      ? flowstoreLogging === "1" || flowstoreLogging === "true"
      : flag(env, "ENABLE_STATEMENT_LOGGING", hidden);

  // Blobs given explicitly: the S3 variables are not consulted at all.
  const s3 = options.s3 === false ? undefined : s3Settings(env, hidden);
  const server = options.connection === null ? undefined : resolveConnection(options.connection, env);
  return { server, dataDir: get("FLOWSTORE_DATA_DIR"), pool, logStatements, s3 };
}

function s3Settings(env: NodeJS.ProcessEnv, hidden: (text: string) => string): S3Settings | undefined {
  const get = (name: string) => env[name] || undefined;
  const bucket = get("S3_BUCKET");
  if (bucket === undefined) {
    const set = S3_ONLY_WITH_BUCKET.filter((name) => get(name) !== undefined);
    if (set.length > 0) {
      throw new ValidationError(
        `${set.join(", ")} ${set.length === 1 ? "is" : "are"} set but S3_BUCKET is not: set S3_BUCKET to keep blobs in S3, or unset ${set.length === 1 ? "it" : "them"}`,
        { field: "S3_BUCKET" },
      );
    }
    return undefined;
  }

  const sdkReadsEnv = env === process.env;
  const [endpointName, configured] = configuredEndpoint(env);
  if (configured !== undefined && !isHttpUrl(configured)) {
    throw new ValidationError(
      hidden(`${endpointName} must be an http:// or https:// URL, got "${configured}"`),
      {
        field: endpointName,
      },
    );
  }
  // The SDK finds AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL in process.env by itself.
  const endpoint = endpointName === "S3_ENDPOINT" || !sdkReadsEnv ? configured : undefined;

  const keyId = get("S3_ACCESS_KEY_ID");
  const secret = get("S3_SECRET_ACCESS_KEY");
  if ((keyId === undefined) !== (secret === undefined)) {
    const [missing, present] =
      keyId === undefined
        ? ["S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"]
        : ["S3_SECRET_ACCESS_KEY", "S3_ACCESS_KEY_ID"];
    throw new ValidationError(`${present} is set but ${missing} is not: S3 credentials need both`, {
      field: missing,
    });
  }
  let credentials: S3Settings["credentials"];
  if (keyId !== undefined && secret !== undefined) {
    credentials = { accessKeyId: keyId, secretAccessKey: secret };
  } else if (!sdkReadsEnv) {
    const awsKeyId = get("AWS_ACCESS_KEY_ID");
    const awsSecret = get("AWS_SECRET_ACCESS_KEY");
    const sessionToken = get("AWS_SESSION_TOKEN");
    // As the SDK's fromEnv: both or nothing, and then its chain goes on to profiles and roles.
    if (awsKeyId !== undefined && awsSecret !== undefined) {
      credentials = {
        accessKeyId: awsKeyId,
        secretAccessKey: awsSecret,
        ...(sessionToken && { sessionToken }),
      };
    }
  }

  const pathStyle = flag(env, "S3_USE_PATH_STYLE", hidden);
  return {
    bucket,
    region: get("S3_REGION") ?? get("AWS_REGION") ?? get("AWS_DEFAULT_REGION"),
    endpoint,
    credentials,
    // Self-hosted servers (MinIO, s3rver...) mostly serve only path-style URLs; AWS prefers virtual hosts.
    forcePathStyle: pathStyle ?? configured !== undefined,
  };
}

/** S3_ENDPOINT, else the SDK's own order: the S3-specific endpoint, then the global one. */
function configuredEndpoint(env: NodeJS.ProcessEnv): [string, string | undefined] {
  for (const name of ["S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]) {
    if (env[name]) return [name, env[name]];
  }
  return ["S3_ENDPOINT", undefined];
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

function count(
  env: NodeJS.ProcessEnv,
  name: string,
  least: number,
  hidden: (text: string) => string,
): number | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  const value = raw.trim();
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < least) {
    throw new ValidationError(hidden(`${name} must be an integer of at least ${least}, got "${raw}"`), {
      field: name,
    });
  }
  return Number(value);
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

function flag(env: NodeJS.ProcessEnv, name: string, hidden: (text: string) => string): boolean | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  const value = raw.trim().toLowerCase();
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw new ValidationError(hidden(`${name} must be true or false (or 1/0, yes/no, on/off), got "${raw}"`), {
    field: name,
  });
}
