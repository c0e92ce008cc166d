export type { BlobBackend, BlobContent, BlobIO, BlobWriteRequest } from "./blobs/backend.js";
export { DEFAULT_CHUNK_SIZE, type PostgresBlobOptions, postgresBlobs } from "./blobs/postgres.js";
export { type Codec, type Encoded, JSON_MANIFEST, jsonCodec, protobufCodec } from "./codecs.js";
export { ConnectionConfig } from "./config/connection-config.js";
export { type ConnectionFields, parseConnectionString, type SslMode } from "./config/connection-string.js";
export { resolveConnection } from "./config/environment.js";
export { POOL_DEFAULTS, type PoolOptions } from "./config/pool.js";
export type { IsolationLevel, QueryOptions, QueryResult, TransactionOptions } from "./db/driver.js";
export {
  BlobError,
  ConflictError,
  ConnectionError,
  type ErrorCode,
  LeaseLostError,
  MigrationError,
  NonDeterminismError,
  NotFoundError,
  StoreError,
  StreamClosedError,
  TransactionEndedError,
  ValidationError,
} from "./errors.js";
export { isUuid, uuidv7 } from "./ids.js";
export { consoleLogger, type Logger } from "./logger.js";
export type { Maintenance, MaintenanceOptions, MaintenanceTask } from "./maintenance.js";
export type { MigrateResult } from "./migrations/runner.js";
export { migrationScript } from "./migrations/runner.js";
export { DEFAULT_LIMITS, type PayloadLimits } from "./payload.js";
export { Jobs } from "./queue/jobs.js";
export * from "./queue/types.js";
export { jobsChannel, wakeStatement } from "./queue/wake.js";
export type { BlobData, BlobInfo, BlobPutOptions, BlobRange } from "./repositories/blob-types.js";
export { Blobs } from "./repositories/blobs.js";
export {
  ComponentState,
  type ComponentStateEntry,
  type ComponentStatePutOptions,
} from "./repositories/component-state.js";
export { type AddCorrelationOptions, type Correlation, Correlations } from "./repositories/correlations.js";
export {
  DEFINITION_STATUSES,
  type Definition,
  type DefinitionFilter,
  type DefinitionStatus,
  Definitions,
  type NewDefinition,
} from "./repositories/definitions.js";
export {
  DurableState,
  type DurableStateListOptions,
  type DurableStateRecord,
  type DurableStateWrite,
  type DurableStateWriteResult,
} from "./repositories/durable-state.js";
export { eventsChannel } from "./repositories/event-append.js";
export type {
  AppendOptions,
  EventCorrelationOptions,
  EventListOptions,
  EventWaitOptions,
  HistoryEvent,
  NewHistoryEvent,
} from "./repositories/event-types.js";
export { Events } from "./repositories/events.js";
export {
  type CancelExecutionOptions,
  EXECUTION_STATUSES,
  type Execution,
  type ExecutionFilter,
  type ExecutionListOptions,
  type ExecutionPatch,
  type ExecutionRecord,
  type ExecutionStatus,
  type ExecutionWriteOptions,
  type Page,
  type StartExecution,
} from "./repositories/execution-types.js";
export { Executions } from "./repositories/executions.js";
export type { AppendOption, WithHistory } from "./repositories/history-writes.js";
export type { PageOptions } from "./repositories/key-cursor.js";
export { KeyValue } from "./repositories/kv.js";
export type {
  KvEntry,
  KvListOptions,
  KvPrefixListOptions,
  KvSetIfAbsentResult,
  KvSetManyEntry,
  KvSetOptions,
  KvSweepOptions,
} from "./repositories/kv-types.js";
export {
  type Signal,
  type SignalClaim,
  type SignalClaimOptions,
  type SignalDeliverOptions,
  type SignalDelivery,
  type SignalListOptions,
  Signals,
} from "./repositories/signals.js";
export {
  type RecordStep,
  type RecordStepResult,
  type StepCheckpoint,
  type StepListOptions,
  Steps,
} from "./repositories/steps.js";
export type {
  StreamChunk,
  StreamInfo,
  StreamPage,
  StreamReadOptions,
  StreamTailOptions,
  StreamWriteOptions,
} from "./repositories/stream-types.js";
export { Streams } from "./repositories/streams.js";
export type {
  ChildTask,
  Task,
  TaskFilter,
  TaskNode,
  TaskPatch,
  TaskProgress,
  TaskRecord,
  TaskStatus,
  TaskWriteOptions,
} from "./repositories/task-types.js";
export { Tasks } from "./repositories/tasks.js";
export { type LeasedTimer, type ScheduleTimer, type Timer, Timers } from "./repositories/timers.js";
export type { PruneOptions, PruneResult } from "./retention.js";
export { StoreScope, type Transaction } from "./scope.js";
export { DEFAULT_SCHEMA, openStore, type QueueCommits, Store, type StoreOptions } from "./store.js";
