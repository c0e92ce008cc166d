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
export { consoleLogger, type Logger } from "./logger.js";
export type { MigrateResult } from "./migrations/runner.js";
export { migrationScript } from "./migrations/runner.js";
export {
  DEFAULT_SCHEMA,
  openStore,
  Store,
  type StoreOptions,
  StoreScope,
  type Transaction,
} from "./store.js";
