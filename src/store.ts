/**
 * The store: its repositories, retention and lifecycle. openStore() resolves its options into a plan
 * (store-plan.ts), opens what the plan says, checks the connection and migrates.
 */

import { loadBlobNamespace } from "./blobs/namespace.js";
import { importWithPeers } from "./config/peers.js";
import { backgroundOf } from "./core/background.js";
import type { BlobBackend } from "./core/blob-backend.js";
import type { Logger } from "./core/logger.js";
import { DEFAULT_LIMITS, type PayloadLimits } from "./core/payload.js";
import { refuseOnReadOnly } from "./core/read-only.js";
import type { Telemetry } from "./core/telemetry.js";
import type { ConnectionCounts, Driver } from "./db/driver.js";
import { firstContactError, openPlanned } from "./db/open.js";
import { ReadOnlyDriver } from "./db/read-only.js";
import { openReadReplicas, type ReadReplicas } from "./db/read-replicas.js";
import { quoteIdentifier } from "./db/sql.js";
import {
  type MigrateOptions,
  type MigrateResult,
  migrate,
  migrationStatus,
  requireCurrentSchema,
} from "./migrations/runner.js";
import type { QueueCommits, StoreOptions } from "./options.js";
import type { PartitionOptions } from "./partitions/index.js";
import {
  ensureRanges,
  type HistoryRange,
  listRanges,
  type RangeSize,
  rangeSizes,
} from "./partitions/index.js";
import { type Maintenance, type MaintenanceOptions, startMaintenance } from "./retention/maintenance.js";
import { countPrunable, type PruneOptions, type PruneResult, prune } from "./retention/prune.js";
import { StoreScope, type Transaction } from "./scope.js";
import { planStore, type StorePlan } from "./store-plan.js";
import { loadTelemetry } from "./telemetry/index.js";
import { WorkingJobs } from "./worker/index.js";

export { DEFAULT_SCHEMA } from "./store-plan.js";

/** What a store is made of, once openStore has opened and checked it. */
export interface StoreParts {
  driver: Driver;
  schema: string;
  logger: Logger;
  limits?: PayloadLimits;
  blobBackend?: BlobBackend;
  /** Filled when the blob namespace is first read or made. */
  blobNamespace?: { id: string | undefined };
  queueCommits?: QueueCommits;
  /** Where reads that tolerate lag go (readConnection). */
  replicas?: ReadReplicas;
  readOnly?: boolean;
  /** How the history tables' ranges are made. */
  partitions?: PartitionOptions;
  /** OpenTelemetry, when the store has it. */
  telemetry?: Telemetry;
}

export class Store extends StoreScope {
  /** The queue, and its workers: started on the store, their transactional handlers run in its transactions. */
  declare readonly jobs: WorkingJobs<Transaction>;
  /** Opened with `readOnly: true`: every write is refused. */
  readonly readOnly: boolean;
  /**
   * The store's repositories with every read on the primary, for a list that must include what was
   * just written; the store itself when it has no readConnection.
   */
  readonly primary: StoreScope;
  private readonly replicas: ReadReplicas | undefined;
  private readonly partitionOptions: PartitionOptions;
  private closed: Promise<void> | undefined;

  readonly driver: Driver;
  readonly schema: string;
  /** The payload limits it was opened with: what a value written may weigh, what goes to the blob store. */
  readonly limits: Readonly<PayloadLimits>;
  private readonly logger: Logger;

  constructor(parts: StoreParts) {
    const { driver, schema, logger, replicas } = parts;
    super({
      db: driver,
      reads: replicas ?? driver,
      readOnly: parts.readOnly === true,
      schema,
      q: quoteIdentifier(schema),
      driver,
      logger,
      limits: parts.limits ?? DEFAULT_LIMITS,
      blobBackend: parts.blobBackend,
      blobNamespace: parts.blobNamespace ?? { id: undefined },
      relaxedQueueCommits: parts.queueCommits === "relaxed",
      telemetry: parts.telemetry,
    });
    this.driver = driver;
    this.schema = schema;
    this.limits = parts.limits ?? DEFAULT_LIMITS;
    this.logger = logger;
    this.jobs = this.traced(new WorkingJobs(this.context, (fn) => this.transaction(fn)), "jobs");
    this.readOnly = parts.readOnly === true;
    this.replicas = replicas;
    this.primary = replicas ? new StoreScope({ ...this.context, reads: driver }) : this;
    this.partitionOptions = parts.partitions ?? {};
  }

  /** Where the store is connected (and reads from, with a readConnection), passwords hidden. */
  describe(): string {
    const where = this.driver.describe();
    return this.replicas ? `${where}; reads from ${this.replicas.describe()}` : where;
  }

  /**
   * A store that holds the embedded store in a data directory serves it to other processes (flowstore
   * commands among them) on a unix socket from the moment it opens until it closes, so this has nothing
   * left to start: kept for callers that asked for it, it returns a handle whose `close()` does nothing.
   */
  async shareEmbedded(): Promise<{ close(): Promise<void> }> {
    const background = backgroundOf(this.driver);
    background.checkOpen();
    // A read-only store shares the database as it is: other processes open stores of their own on it.
    const driver = this.driver instanceof ReadOnlyDriver ? this.driver.inner : this.driver;
    // Loaded when asked: the socket server and its client bring node-postgres.
    const { shareEmbeddedStore } = await import("./db/pglite-socket.js");
    const shared = await shareEmbeddedStore(driver);
    try {
      background.checkOpen(); // the store began to close meanwhile
    } catch (error) {
      await shared.close();
      throw error;
    }
    let closed: Promise<void> | undefined;
    let forget = () => {};
    const close = () => {
      forget();
      closed ??= shared.close();
      return closed;
    };
    forget = background.add({ stop: close });
    return { close };
  }

  /** Applies pending migrations; `progress` is told of each as it is applied. */
  async migrate(options: MigrateOptions = {}): Promise<MigrateResult> {
    refuseOnReadOnly(this.context, "migrate()");
    const result = await migrate(this.driver, this.schema, this.logger, undefined, options);
    await loadBlobNamespace(this.context);
    await this.ensurePartitions();
    return result;
  }

  /**
   * Creates the history tables' partitions for the days ahead (`partitions.aheadDays`), if another
   * process has not; returns the ranges made. Opening the store (with migrate) and every prune do it.
   */
  ensurePartitions(): Promise<HistoryRange[]> {
    refuseOnReadOnly(this.context, "ensurePartitions()");
    return ensureRanges(this.context, this.partitionOptions);
  }

  /** The ranges of time the history tables are partitioned by, oldest first. */
  listPartitions(): Promise<HistoryRange[]> {
    return listRanges(this.context);
  }

  /** What each range (and the default partitions) holds: runs (an estimate) and bytes, from the catalog. */
  partitionSizes(): Promise<RangeSize[]> {
    return rangeSizes(this.context);
  }

  /** The applied schema version and the number of migrations this flowstore has that are not applied. */
  migrationStatus(): Promise<{ version: number; pending: number }> {
    return migrationStatus(this.driver, this.schema);
  }

  ping(): Promise<void> {
    return this.driver.ping();
  }

  /** The store's own connections now: its pool's (one for the embedded database). */
  connections(): ConnectionCounts {
    return this.driver.connections();
  }

  /**
   * Deletes executions that finished before `finishedBefore`, with their tasks, component state,
   * correlations, timers, jobs (and history), blobs, step checkpoints, streams, event history, signals
   * and owned key-value entries, in batches that each commit on their own; then completed-job history of no execution older
   * than the cut, and expired key-value entries. Running executions and their children are never
   * touched. Returns what it removed.
   */
  async prune(options: PruneOptions): Promise<PruneResult> {
    // Before anything: pruning removes blob content outside the database too.
    refuseOnReadOnly(this.context, "prune()");
    return prune(
      {
        db: this.driver,
        q: this.context.q,
        distributed: this.driver.capabilities.distributed,
        logger: this.context.logger,
        collectGarbage: () => this.blobs.collectGarbage(),
        sweepExpiredKv: (batchSize) => this.kv.sweepExpired({ batchSize }),
        ensurePartitions: () => this.ensurePartitions(),
      },
      options,
    );
  }

  /** How many executions `prune(options)` would remove now (a dry run). */
  async countPrunable(options: PruneOptions): Promise<number> {
    return countPrunable(
      { db: this.driver, q: this.context.q, distributed: this.driver.capabilities.distributed },
      options,
    );
  }

  /**
   * Prunes on a schedule: at once, then every `intervalMs` (default 10 minutes), whatever finished more
   * than `olderThanMs` ago, until stopped or the store closes. It never keeps the process alive.
   */
  startMaintenance(options: MaintenanceOptions): Maintenance {
    refuseOnReadOnly(this.context, "startMaintenance()");
    const background = backgroundOf(this.driver);
    background.checkOpen();
    let forget = () => {};
    const maintenance = startMaintenance(
      (prune) => this.prune(prune),
      options,
      (error) => this.context.logger.warn({ error: String(error) }, "flowstore maintenance"),
      () => forget(),
    );
    forget = background.add(maintenance);
    return maintenance;
  }

  /** Reports the queues' state as gauges at each metric collection, until the store closes. */
  /** @internal openStore's, once the store is open. */
  observeQueues(telemetry: Telemetry): void {
    // Its own repository: the collection's reads are the SDK's doing, not spans in the caller's traces.
    const jobs = new WorkingJobs(this.context, (fn) => this.transaction(fn));
    const stop = telemetry.observeQueues(() => jobs.stats());
    backgroundOf(this.driver).add({ stop: async () => stop() });
  }

  /**
   * Stops what the store started first: workers (each lets its running handlers finish, up to its
   * stopTimeoutMs, and hands its prefetched jobs back), timer and schedule dispatchers, maintenance,
   * the embedded store's socket. Then waits for queries in flight and closes what the store opened.
   * Never rejects for what it stops; safe to call twice.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await backgroundOf(this.driver).stopAll((error) =>
        this.context.logger.warn({ error: String(error) }, "flowstore: stopping at close"),
      );
      await this.driver.close();
      await this.replicas?.close();
      await this.context.blobBackend?.close?.();
    })();
    return this.closed;
  }
}

/** Opens a store: its options resolved into a plan (store-plan.ts), then what the plan says opened. */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  return openPlannedStore(planStore(options));
}

async function openPlannedStore(plan: StorePlan): Promise<Store> {
  const { schema, logger, statements, readOnly } = plan;
  const telemetry = await loadTelemetry(plan.telemetry, schema);
  const opened = await openPlanned(plan.connection, logger, statements);
  const driver = readOnly ? new ReadOnlyDriver(opened.driver) : opened.driver;
  let blobs: BlobBackend | undefined;
  let replicas: ReadReplicas | undefined;
  try {
    if (plan.blobs && "given" in plan.blobs) blobs = plan.blobs.given;
    // Built here, so closed by store.close(); the SDK module loads only for stores that use S3.
    else if (plan.blobs) {
      const { s3 } = await importWithPeers(
        () => import("./blobs/s3.js"),
        ["@aws-sdk/client-s3", "@aws-sdk/lib-storage"],
        "S3_BUCKET is set, so blobs go to S3",
        "S3_BUCKET",
      );
      blobs = s3(plan.blobs.s3);
    }
    if (plan.replicas) {
      replicas = await openReadReplicas(plan.replicas.given, plan.replicas.primaryOnServer, {
        ...plan.replicas.options,
        environment: { pool: plan.replicas.environmentPool },
        logger,
        statements,
      });
    }
  } catch (error) {
    await driver.close().catch(() => {});
    if (plan.blobs && "s3" in plan.blobs) await Promise.resolve(blobs?.close?.()).catch(() => {});
    throw error;
  }
  const blobNamespace: { id: string | undefined } = { id: undefined };
  const store = new Store({
    driver,
    schema,
    logger,
    limits: plan.limits,
    blobBackend: blobs,
    blobNamespace,
    queueCommits: plan.queueCommits,
    replicas,
    readOnly,
    partitions: plan.partitions,
    telemetry,
  });
  try {
    await store.ping();
    // Read-only, the blob namespace stays unknown: only writes and garbage sweeps name it.
    if (readOnly) await requireCurrentSchema(driver, schema);
    else if (plan.migrate) await store.migrate();
    else await loadBlobNamespace({ driver, q: quoteIdentifier(schema), blobBackend: blobs, blobNamespace });
  } catch (error) {
    await store.close().catch(() => {});
    throw firstContactError(error, opened.config ?? plan.named);
  }
  if (telemetry && (typeof plan.telemetry !== "object" || plan.telemetry.queueGauges !== false)) {
    store.observeQueues(telemetry);
  }
  return store;
}
