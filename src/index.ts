// PGlite's declarations name the Emscripten namespace without bringing its types: these do.
/// <reference types="emscripten" preserve="true" />

export { Blobs } from "./blobs/blobs.js";
export { DEFAULT_CHUNK_SIZE, type PostgresBlobOptions, postgresBlobs } from "./blobs/postgres.js";
export type { BlobData, BlobInfo, BlobPutOptions, BlobRange } from "./blobs/types.js";
export {
  ComponentState,
  type ComponentStateEntry,
  type ComponentStatePutOptions,
} from "./component-state/component-state.js";
export { ConnectionConfig } from "./config/connection-config.js";
export { type ConnectionFields, parseConnectionString, type SslMode } from "./config/connection-string.js";
export { resolveConnection } from "./config/environment.js";
export { POOL_DEFAULTS, type PoolOptions } from "./config/pool.js";
export type { BlobBackend, BlobContent, BlobIO, BlobWriteRequest } from "./core/blob-backend.js";
export { type Codec, type Encoded, JSON_MANIFEST, jsonCodec } from "./core/codecs.js";
export {
  BlobError,
  ConflictError,
  ConnectionError,
  type ErrorCode,
  LeaseLostError,
  MigrationError,
  NonDeterminismError,
  NotFoundError,
  ReadOnlyError,
  StoreClosedError,
  StoreError,
  StreamClosedError,
  TransactionEndedError,
  ValidationError,
} from "./core/errors.js";
export { isUuid, uuidv7 } from "./core/ids.js";
export type { PageOptions } from "./core/key-cursor.js";
export { consoleLogger, type Logger } from "./core/logger.js";
export { DEFAULT_LIMITS, type PayloadLimits } from "./core/payload.js";
export { jobsChannel, wakeStatement } from "./core/wake.js";
export { type AddCorrelationOptions, type Correlation, Correlations } from "./correlations/correlations.js";
export type {
  ConnectionCounts,
  IsolationLevel,
  QueryOptions,
  QueryResult,
  TransactionOptions,
} from "./db/driver.js";
export {
  DEFINITION_STATUSES,
  type Definition,
  type DefinitionFilter,
  type DefinitionStatus,
  Definitions,
  type NewDefinition,
} from "./definitions/definitions.js";
export {
  DurableState,
  type DurableStateListOptions,
  type DurableStateRecord,
  type DurableStateWrite,
  type DurableStateWriteResult,
} from "./durable-state/durable-state.js";
export type { StatusCount, StatusCountOptions } from "./executions/counts.js";
export { Executions } from "./executions/executions.js";
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
  type ForkExecutionOptions,
  type Page,
  type RewindExecutionOptions,
  type StartExecution,
} from "./executions/types.js";
export { eventsChannel } from "./history/append.js";
export { Events } from "./history/events.js";
export type {
  AppendOptions,
  EventCorrelationOptions,
  EventListOptions,
  EventWaitOptions,
  HistoryEvent,
  NewHistoryEvent,
} from "./history/types.js";
export type { AppendOption, WithHistory } from "./history/writes.js";
export { KeyValue } from "./kv/kv.js";
export type {
  KvEntry,
  KvListOptions,
  KvPrefixListOptions,
  KvSetIfAbsentResult,
  KvSetManyEntry,
  KvSetOptions,
  KvSweepOptions,
} from "./kv/types.js";
export type { MigrateOptions, MigrateResult, MigrationProgress } from "./migrations/runner.js";
export { migrationScript } from "./migrations/runner.js";
export type { QueueCommits, StoreOptions } from "./options.js";
export type { HistoryRange, PartitionOptions, RangeSize } from "./partitions/index.js";
export { Jobs } from "./queue/jobs.js";
export {
  defineQueue,
  type EnqueueArguments,
  type JobName,
  type QueueDefinition,
  type TypedEnqueueJob,
  type TypedEnqueueOptions,
  type TypedJob,
  type TypedQueue,
} from "./queue/typed.js";
export * from "./queue/types.js";
export type { Maintenance, MaintenanceOptions, MaintenanceTask } from "./retention/maintenance.js";
export type { PruneOptions, PruneResult } from "./retention/prune.js";
export {
  nextCronTicks,
  type ScheduleDispatcherOptions,
  Schedules,
} from "./schedules/schedules.js";
export type {
  MissedTicks,
  Schedule,
  ScheduleJobOptions,
  ScheduleTick,
  SetSchedule,
} from "./schedules/types.js";
export { StoreScope, type Transaction } from "./scope.js";
export {
  type Signal,
  type SignalClaim,
  type SignalClaimOptions,
  type SignalDeliverOptions,
  type SignalDelivery,
  type SignalListOptions,
  Signals,
} from "./signals/signals.js";
export {
  type RecordStep,
  type RecordStepResult,
  type StepCheckpoint,
  type StepListOptions,
  Steps,
} from "./steps/steps.js";
export { DEFAULT_SCHEMA, openStore, Store } from "./store.js";
export { Streams } from "./streams/streams.js";
export type {
  StreamChunk,
  StreamInfo,
  StreamPage,
  StreamReadOptions,
  StreamTailOptions,
  StreamWriteOptions,
} from "./streams/types.js";
export { Tasks } from "./tasks/tasks.js";
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
} from "./tasks/types.js";
export type { TelemetryOption, TelemetryOptions } from "./telemetry/index.js";
export { type LeasedTimer, type ScheduleTimer, type Timer, Timers } from "./timers/timers.js";
export type {
  JobContext,
  JobHandler,
  JobOutcome,
  TransactionalJobContext,
  TransactionalWorkerOptions,
  TypedJobHandler,
  TypedTransactionalWorkerOptions,
  TypedWorkerOptions,
  Worker,
  WorkerOptions,
  WorkingQueue,
} from "./worker/index.js";
