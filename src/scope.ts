/** The surface shared by the store and a transaction: every repository, your own SQL, and nesting. */

import { Blobs } from "./blobs/blobs.js";
import { ComponentState } from "./component-state/component-state.js";
import { inTransaction, type StoreContext } from "./core/context.js";
import { optionKeys, refuseUnknownKeys } from "./core/input.js";
import { Correlations } from "./correlations/correlations.js";
import type { QueryOptions, QueryResult, TransactionOptions } from "./db/driver.js";
import { Definitions } from "./definitions/definitions.js";
import { DurableState } from "./durable-state/durable-state.js";
import { Executions } from "./executions/executions.js";
import { Events } from "./history/events.js";
import { KeyValue } from "./kv/kv.js";
import { Jobs } from "./queue/index.js";
import { Schedules } from "./schedules/schedules.js";
import { Signals } from "./signals/signals.js";
import { Steps } from "./steps/steps.js";
import { Streams } from "./streams/streams.js";
import { Tasks } from "./tasks/tasks.js";
import { traced } from "./telemetry/index.js";
import { Timers } from "./timers/timers.js";

// A misspelt readOnly would let the transaction write, a misspelt isolation run it at the default.
const TRANSACTION_KEYS = optionKeys<TransactionOptions>({ isolation: true, readOnly: true, retries: true });

/** The same surface on the store and inside a transaction. */
export class StoreScope {
  readonly definitions: Definitions;
  readonly executions: Executions;
  readonly tasks: Tasks;
  readonly componentState: ComponentState;
  readonly correlations: Correlations;
  readonly timers: Timers;
  readonly jobs: Jobs;
  readonly durableState: DurableState;
  readonly kv: KeyValue;
  readonly blobs: Blobs;
  readonly steps: Steps;
  readonly streams: Streams;
  readonly events: Events;
  readonly signals: Signals;
  readonly schedules: Schedules;

  constructor(protected readonly context: StoreContext) {
    this.definitions = this.traced(new Definitions(context), "definitions");
    this.executions = this.traced(new Executions(context), "executions");
    this.tasks = this.traced(new Tasks(context), "tasks");
    this.componentState = this.traced(new ComponentState(context), "componentState");
    this.correlations = this.traced(new Correlations(context), "correlations");
    this.timers = this.traced(new Timers(context), "timers");
    this.jobs = this.traced(new Jobs(context), "jobs");
    this.durableState = this.traced(new DurableState(context), "durableState");
    this.kv = this.traced(new KeyValue(context), "kv");
    this.blobs = this.traced(new Blobs(context), "blobs");
    this.steps = this.traced(new Steps(context), "steps");
    this.streams = this.traced(new Streams(context), "streams");
    this.events = this.traced(new Events(context), "events");
    this.signals = this.traced(new Signals(context), "signals");
    this.schedules = this.traced(new Schedules(context), "schedules");
  }

  /** The repository, its calls in spans when the store has telemetry; as it is when not. */
  protected traced<R extends object>(repository: R, area: string): R {
    const { telemetry } = this.context;
    return telemetry ? traced(repository, area, telemetry) : repository;
  }

  /**
   * Runs your own SQL (values only as `$n` parameters), in the transaction when called on one.
   * `{ prepare: true }` makes a hot statement of fixed text a named prepared statement, parsed and
   * planned once per connection (never for text built from input).
   */
  async query<R = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>> {
    return this.context.db.query<R>(text, values, options);
  }

  /**
   * Commits when `fn` returns, rolls back when it throws; nested, it is a savepoint. Every read in it,
   * lists and counts included, goes through the transaction: none to a readConnection.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    if (typeof options === "object" && options !== null) refuseUnknownKeys(options, TRANSACTION_KEYS);
    return this.context.db.transaction((db) => fn(new StoreScope(inTransaction(this.context, db))), options);
  }
}

export type Transaction = StoreScope;
