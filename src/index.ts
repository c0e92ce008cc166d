export type { BlobBackend, BlobContent, BlobIO, BlobWriteRequest } from "./blobs/backend.js";
export { DEFAULT_CHUNK_SIZE, type PostgresBlobOptions, postgresBlobs } from "./blobs/postgres.js";
export { type Codec, type Encoded, JSON_MANIFEST, jsonCodec, protobufCodec } from "./codecs.js";
export type {
  ConnectionFields,
  PoolOptions,
  SslMode,
} from "./config.js";
export { ConnectionConfig, POOL_DEFAULTS, parseConnectionString, resolveConnection } from "./config.js";
export type { IsolationLevel, QueryResult, TransactionOptions } from "./db/driver.js";
export {
  BlobError,
  ConflictError,
  ConnectionError,
  type ErrorCode,
  LeaseLostError,
  MigrationError,
  NotFoundError,
  StoreError,
  ValidationError,
} from "./errors.js";
export { isUuid, uuidv7 } from "./ids.js";
export { consoleLogger, type Logger } from "./logger.js";
export type { Maintenance, MaintenanceOptions } from "./maintenance.js";
export type { MigrateResult } from "./migrations/runner.js";
export { migrationScript } from "./migrations/runner.js";
export { DEFAULT_LIMITS, type PayloadLimits } from "./payload.js";
export * from "./repositories/blobs.js";
export * from "./repositories/component-state.js";
export * from "./repositories/correlations.js";
export * from "./repositories/definitions.js";
export * from "./repositories/durable-state.js";
export * from "./repositories/executions.js";
export * from "./repositories/jobs.js";
export type { PageOptions } from "./repositories/key-cursor.js";
export * from "./repositories/kv.js";
export * from "./repositories/tasks.js";
export * from "./repositories/timers.js";
export type { PruneOptions, PruneResult } from "./retention.js";
export {
  DEFAULT_SCHEMA,
  openStore,
  Store,
  type StoreOptions,
  StoreScope,
  type Transaction,
} from "./store.js";
