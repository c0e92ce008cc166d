/**
 * openStore's first step: its options and the environment resolved into one plan, every option checked
 * before anything connects or loads. The second step (store.ts) opens what the plan says: the
 * connection (db/open.ts), blob storage, read replicas and telemetry, then the store itself.
 */

import { readStoreEnvironment, type S3Settings } from "./config/store-environment.js";
import type { BlobBackend } from "./core/blob-backend.js";
import { ValidationError } from "./core/errors.js";
import { checkOneOf } from "./core/input.js";
import { consoleLogger, type Logger } from "./core/logger.js";
import { checkLimits, type PayloadLimits } from "./core/payload.js";
import { type StatementLogging, statementLogging } from "./db/driver.js";
import { type ConnectionOption, type ConnectionPlan, planConnection, serverConnection } from "./db/open.js";
import { isPgPool } from "./db/pg-pool.js";
import type { ReadConnection } from "./db/read-replicas.js";
import { validateSchemaName } from "./db/sql.js";
import { type QueueCommits, refuseUnknownStoreOptions, type StoreOptions } from "./options.js";
import { checkPartitionOptions, type PartitionOptions, templateRanges } from "./partitions/index.js";
import { checkTelemetryOption, type TelemetryOption } from "./telemetry/index.js";

export const DEFAULT_SCHEMA = "flowstore";

export interface StorePlan {
  schema: string;
  queueCommits: QueueCommits;
  partitions: PartitionOptions | undefined;
  limits: PayloadLimits;
  telemetry: TelemetryOption | undefined;
  readOnly: boolean;
  /** Migrate when opened (never for a read-only store). */
  migrate: boolean;
  logger: Logger;
  statements: StatementLogging | undefined;
  connection: ConnectionPlan;
  /** What a failed first contact names: the server's settings, else the option as given. */
  named: ConnectionOption | undefined;
  /** The blob backend given, or S3's settings from the environment (S3_BUCKET), or neither. */
  blobs: { given: BlobBackend } | { s3: S3Settings } | undefined;
  /** Replicas to open, with what their pools take from the store's options. */
  replicas:
    | {
        given: ReadConnection | ReadConnection[];
        primaryOnServer: boolean;
        options: Pick<StoreOptions, "pool" | "preparedStatements">;
        /** DATABASE_MAX_CONNECTIONS and DATABASE_MIN_CONNECTIONS, for their pools too. */
        environmentPool: ReturnType<typeof readStoreEnvironment>["pool"];
      }
    | undefined;
}

export function planStore(options: StoreOptions): StorePlan {
  refuseUnknownStoreOptions(options);
  const env = options.env ?? process.env;
  const schema = validateSchemaName(options.schema ?? DEFAULT_SCHEMA);
  const queueCommits = checkOneOf(options.queueCommits ?? "durable", ["durable", "relaxed"], "queueCommits");
  checkPartitionOptions(options.partitions);
  const limits = checkLimits(options.limits);
  const telemetry = checkTelemetryOption(options.telemetry);
  const readOnly = options.readOnly === true;
  if (readOnly && options.migrate === true) {
    throw new ValidationError("a store opened with readOnly: true never migrates: leave migrate out", {
      field: "migrate",
    });
  }
  const environment = readStoreEnvironment(env, {
    connection: serverConnection(options.connection),
    s3: options.blobs === undefined,
  });
  const logStatements = options.logStatements ?? environment.logStatements ?? false;
  const logger = options.logger ?? consoleLogger(logStatements !== false ? "debug" : "warn");
  const connection = planConnection({
    ...options,
    environment,
    templateRanges: templateRanges(options.partitions?.days),
  });
  return {
    schema,
    queueCommits,
    partitions: options.partitions,
    limits,
    telemetry,
    readOnly,
    migrate: !readOnly && (options.migrate ?? true),
    logger,
    statements: statementLogging(logStatements, logger),
    connection,
    named: connection.kind === "server" ? connection.config : options.connection,
    blobs: options.blobs ? { given: options.blobs } : environment.s3 ? { s3: environment.s3 } : undefined,
    replicas:
      options.readConnection === undefined
        ? undefined
        : {
            given: options.readConnection,
            primaryOnServer: environment.server !== undefined || isPgPool(options.connection),
            options: { pool: options.pool, preparedStatements: options.preparedStatements },
            environmentPool: environment.pool,
          },
  };
}
