/**
 * The public surface of the package, as a hard-coded contract: a name that appears in or disappears from
 * an entry point of package.json "exports" fails this file until the lists below are updated on purpose.
 * Runs on the sources (no build needed) and needs no database.
 */
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";

interface EntryPoint {
  /** The subpath in package.json "exports". */
  name: string;
  /** The source file it is built from. */
  source: string;
  load: () => Promise<Record<string, unknown>>;
  /** The names a JavaScript caller can import. */
  runtime: readonly string[];
  /** Every exported name, values and types together. */
  all: readonly string[];
}

// biome-ignore format: one name per line, so that a change to the contract reads as a one-line diff
const entryPoints: readonly EntryPoint[] = [
  {
    name: ".",
    source: "../../src/index.ts",
    load: () => import("../../src/index.js"),
    runtime: [
      "BlobError",
      "Blobs",
      "ComponentState",
      "ConflictError",
      "ConnectionConfig",
      "ConnectionError",
      "Correlations",
      "DEFAULT_CHUNK_SIZE",
      "DEFAULT_LIMITS",
      "DEFAULT_SCHEMA",
      "DEFINITION_STATUSES",
      "Definitions",
      "DurableState",
      "EXECUTION_STATUSES",
      "Events",
      "Executions",
      "JSON_MANIFEST",
      "Jobs",
      "KeyValue",
      "LeaseLostError",
      "MigrationError",
      "NonDeterminismError",
      "NotFoundError",
      "POOL_DEFAULTS",
      "ReadOnlyError",
      "Schedules",
      "Signals",
      "Steps",
      "Store",
      "StoreClosedError",
      "StoreError",
      "StoreScope",
      "StreamClosedError",
      "TransactionEndedError",
      "Streams",
      "Tasks",
      "Timers",
      "ValidationError",
      "consoleLogger",
      "defineQueue",
      "eventsChannel",
      "isUuid",
      "jobsChannel",
      "jsonCodec",
      "migrationScript",
      "nextCronTicks",
      "openStore",
      "parseConnectionString",
      "postgresBlobs",
      "resolveConnection",
      "uuidv7",
      "wakeStatement",
    ],
    all: [
      "AddCorrelationOptions",
      "AppendOption",
      "AppendOptions",
      "BlobBackend",
      "BlobContent",
      "BlobData",
      "BlobError",
      "BlobIO",
      "BlobInfo",
      "BlobPutOptions",
      "BlobRange",
      "BlobWriteRequest",
      "Blobs",
      "CancelExecutionOptions",
      "ChildTask",
      "ClaimOptions",
      "Codec",
      "ComponentState",
      "ComponentStateEntry",
      "ComponentStatePutOptions",
      "ConflictError",
      "ConnectionConfig",
      "ConnectionCounts",
      "ConnectionError",
      "ConnectionFields",
      "Correlation",
      "Correlations",
      "DEFAULT_CHUNK_SIZE",
      "DEFAULT_LIMITS",
      "DEFAULT_SCHEMA",
      "DEFINITION_STATUSES",
      "Definition",
      "DefinitionFilter",
      "DefinitionStatus",
      "Definitions",
      "DurableState",
      "DurableStateListOptions",
      "DurableStateRecord",
      "DurableStateWrite",
      "DurableStateWriteResult",
      "EXECUTION_STATUSES",
      "Encoded",
      "EnqueueArguments",
      "EnqueueJob",
      "ErrorCode",
      "EventCorrelationOptions",
      "EventListOptions",
      "EventWaitOptions",
      "Events",
      "Execution",
      "ExecutionFilter",
      "ExecutionListOptions",
      "ExecutionPatch",
      "ExecutionRecord",
      "ExecutionStatus",
      "ExecutionWriteOptions",
      "Executions",
      "ForkExecutionOptions",
      "HistoryEvent",
      "HistoryRange",
      "IsolationLevel",
      "JSON_MANIFEST",
      "Job",
      "JobContext",
      "JobError",
      "JobFilter",
      "JobGroup",
      "JobHandler",
      "JobName",
      "JobOutcome",
      "JobStatus",
      "Jobs",
      "KeyValue",
      "KvEntry",
      "KvListOptions",
      "KvPrefixListOptions",
      "KvSetIfAbsentResult",
      "KvSetManyEntry",
      "KvSetOptions",
      "KvSweepOptions",
      "Lease",
      "LeaseLostError",
      "LeasedJob",
      "LeasedTimer",
      "Logger",
      "Maintenance",
      "MaintenanceOptions",
      "MaintenanceTask",
      "MigrateOptions",
      "MigrateResult",
      "MigrationError",
      "MigrationProgress",
      "MissedTicks",
      "NewDefinition",
      "NewHistoryEvent",
      "NonDeterminismError",
      "NotFoundError",
      "POOL_DEFAULTS",
      "Page",
      "PageOptions",
      "PayloadLimits",
      "PartitionOptions",
      "PoolOptions",
      "PostgresBlobOptions",
      "PruneOptions",
      "PruneResult",
      "QueryOptions",
      "QueryResult",
      "QueueCommits",
      "QueueCount",
      "QueueDefinition",
      "QueueLimits",
      "QueueLimitsChange",
      "QueuePause",
      "QueueStats",
      "QueueStatsOptions",
      "QueueTotals",
      "RangeSize",
      "ReadOnlyError",
      "RecordStep",
      "RecordStepResult",
      "RewindExecutionOptions",
      "Schedule",
      "ScheduleDispatcherOptions",
      "ScheduleJobOptions",
      "ScheduleTick",
      "ScheduleTimer",
      "Schedules",
      "SetSchedule",
      "Signal",
      "SignalClaim",
      "SignalClaimOptions",
      "SignalDeliverOptions",
      "SignalDelivery",
      "SignalListOptions",
      "Signals",
      "SslMode",
      "StartExecution",
      "StatusCount",
      "StatusCountOptions",
      "StepCheckpoint",
      "StepListOptions",
      "Steps",
      "Store",
      "StoreClosedError",
      "StoreError",
      "StoreOptions",
      "StoreScope",
      "StreamChunk",
      "StreamClosedError",
      "TransactionEndedError",
      "StreamInfo",
      "StreamPage",
      "StreamReadOptions",
      "StreamTailOptions",
      "StreamWriteOptions",
      "Streams",
      "Task",
      "TaskFilter",
      "TaskNode",
      "TaskPatch",
      "TaskProgress",
      "TaskRecord",
      "TaskStatus",
      "TaskWriteOptions",
      "Tasks",
      "TelemetryOption",
      "TelemetryOptions",
      "Timer",
      "Timers",
      "Transaction",
      "TransactionOptions",
      "TransactionalJobContext",
      "TransactionalWorkerOptions",
      "TypedEnqueueJob",
      "TypedEnqueueOptions",
      "TypedJob",
      "TypedJobHandler",
      "TypedQueue",
      "TypedTransactionalWorkerOptions",
      "TypedWorkerOptions",
      "ValidationError",
      "WithHistory",
      "Worker",
      "WorkerLeases",
      "WorkerOptions",
      "WorkingQueue",
      "consoleLogger",
      "defineQueue",
      "eventsChannel",
      "isUuid",
      "jobsChannel",
      "jsonCodec",
      "migrationScript",
      "nextCronTicks",
      "openStore",
      "parseConnectionString",
      "postgresBlobs",
      "resolveConnection",
      "uuidv7",
      "wakeStatement",
    ],
  },
  {
    name: "./testing",
    source: "../../src/testing/index.ts",
    load: () => import("../../src/testing/index.js"),
    runtime: [
      "createTestStore",
      "startTestPostgres",
    ],
    all: [
      "TestPostgres",
      "TestPostgresOptions",
      "createTestStore",
      "startTestPostgres",
    ],
  },
  {
    name: "./s3",
    source: "../../src/blobs/s3.ts",
    load: () => import("../../src/blobs/s3.js"),
    runtime: [
      "S3BlobError",
      "s3",
    ],
    all: [
      "S3BlobBackend",
      "S3BlobError",
      "S3BlobOptions",
      "s3",
    ],
  },
  {
    name: "./langgraph",
    source: "../../src/adapters/langgraph/index.ts",
    load: () => import("../../src/adapters/langgraph/index.js"),
    runtime: [
      "FlowstoreSaver",
      "FlowstoreStore",
    ],
    all: [
      "CheckpointPruneResult",
      "CheckpointRetention",
      "DistanceMetric",
      "Embeddings",
      "EmbeddingsFunc",
      "FlowstoreSaver",
      "FlowstoreSaverOptions",
      "FlowstoreSearchOptions",
      "FlowstoreStore",
      "FlowstoreStoreOptions",
      "SearchMode",
      "SearchRanking",
      "StoreIndexConfig",
      "VectorIndexType",
    ],
  },
  {
    name: "./mastra",
    source: "../../src/adapters/mastra/index.ts",
    load: () => import("../../src/adapters/mastra/index.js"),
    runtime: [
      "FlowstoreMastraMemory",
      "FlowstoreMastraStorage",
      "FlowstoreMastraWorkflows",
    ],
    all: [
      "FlowstoreMastraMemory",
      "FlowstoreMastraStorage",
      "FlowstoreMastraStorageOptions",
      "FlowstoreMastraWorkflows",
    ],
  },
  {
    name: "./openai-agents",
    source: "../../src/adapters/openai-agents/index.ts",
    load: () => import("../../src/adapters/openai-agents/index.js"),
    runtime: [
      "FlowstorePausedRuns",
      "FlowstoreSession",
    ],
    all: [
      "Approval",
      "DecideOptions",
      "FlowstorePausedRuns",
      "FlowstorePausedRunsOptions",
      "FlowstoreSession",
      "FlowstoreSessionOptions",
      "ListPausedRunsOptions",
      "PausedRun",
      "PausedRunSource",
      "PausedRunStatus",
      "RejectOptions",
      "ResumeOptions",
    ],
  },
  {
    name: "./workflow",
    source: "../../src/adapters/workflow/index.ts",
    load: () => import("../../src/adapters/workflow/index.js"),
    runtime: [
      "AttributeValidationError",
      "EntityConflictError",
      "HookNotFoundError",
      "RunExpiredError",
      "RunNotSupportedError",
      "TooEarlyError",
      "WorkflowRunNotFoundError",
      "WorkflowWorldError",
      "createQueueHandler",
      "createWorld",
      "default",
    ],
    all: [
      "AttributeValidationError",
      "Deliver",
      "EntityConflictError",
      "FlowstoreWorld",
      "FlowstoreWorldOptions",
      "HookNotFoundError",
      "RunExpiredError",
      "RunNotSupportedError",
      "TooEarlyError",
      "WorkflowRunNotFoundError",
      "WorkflowWorldError",
      "createQueueHandler",
      "createWorld",
      "default",
    ],
  },
];

/** Which names are new and which are gone, each sorted, so a failure names them. */
function difference(actual: readonly string[], expected: readonly string[]) {
  const have = new Set(actual);
  const want = new Set(expected);
  return {
    added: actual.filter((name) => !want.has(name)).sort(),
    removed: expected.filter((name) => !have.has(name)).sort(),
  };
}

function sourcePath(entry: EntryPoint): string {
  return fileURLToPath(new URL(entry.source, import.meta.url));
}

/** All export names of each entry point, from one Program over the entry files. */
function compilerExports(): Map<string, string[]> {
  const configPath = fileURLToPath(new URL("../../tsconfig.json", import.meta.url));
  const read = ts.readConfigFile(configPath, ts.sys.readFile);
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, "\n"));
  const config = ts.parseJsonConfigFileContent(
    read.config,
    ts.sys,
    fileURLToPath(new URL("../..", import.meta.url)),
  );
  const program = ts.createProgram({
    rootNames: entryPoints.map(sourcePath),
    options: { ...config.options, noEmit: true },
  });
  const checker = program.getTypeChecker();
  const result = new Map<string, string[]>();
  for (const entry of entryPoints) {
    const sourceFile = program.getSourceFile(sourcePath(entry));
    if (!sourceFile) throw new Error(`${entry.source} is not in the program`);
    const moduleSymbol = checker.getSymbolAtLocation(sourceFile);
    if (!moduleSymbol) throw new Error(`${entry.source} is not a module`);
    result.set(
      entry.name,
      checker.getExportsOfModule(moduleSymbol).map((symbol) => symbol.name),
    );
  }
  return result;
}

describe("public exports", () => {
  describe("at runtime", () => {
    for (const entry of entryPoints) {
      it(`"${entry.name}" exports exactly the listed values`, async () => {
        const module = await entry.load();
        expect(difference(Object.keys(module), entry.runtime)).toEqual({ added: [], removed: [] });
      });
    }
  });

  describe("to the type checker", () => {
    let exported: Map<string, string[]>;
    beforeAll(() => {
      exported = compilerExports();
    }, 60_000);

    for (const entry of entryPoints) {
      it(`"${entry.name}" exports exactly the listed values and types`, () => {
        expect(difference(exported.get(entry.name) ?? [], entry.all)).toEqual({ added: [], removed: [] });
      });
    }

    it("lists every runtime export among all exports", () => {
      for (const entry of entryPoints) {
        expect(difference(entry.runtime, entry.all).added).toEqual([]);
      }
    });
  });
});
