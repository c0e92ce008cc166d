/** The surface shared by the store and a transaction: every repository, your own SQL, and nesting. */

import type { StoreContext } from "./context.js";
import type { QueryOptions, QueryResult, TransactionOptions } from "./db/driver.js";
import { Jobs } from "./queue/jobs.js";
import { Blobs } from "./repositories/blobs.js";
import { ComponentState } from "./repositories/component-state.js";
import { Correlations } from "./repositories/correlations.js";
import { Definitions } from "./repositories/definitions.js";
import { DurableState } from "./repositories/durable-state.js";
import { Events } from "./repositories/events.js";
import { Executions } from "./repositories/executions.js";
import { KeyValue } from "./repositories/kv.js";
import { Signals } from "./repositories/signals.js";
import { Steps } from "./repositories/steps.js";
import { Streams } from "./repositories/streams.js";
import { Tasks } from "./repositories/tasks.js";
import { Timers } from "./repositories/timers.js";

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

  constructor(protected readonly context: StoreContext) {
    this.definitions = new Definitions(context);
    this.executions = new Executions(context);
    this.tasks = new Tasks(context);
    this.componentState = new ComponentState(context);
    this.correlations = new Correlations(context);
    this.timers = new Timers(context);
    // Transactional job handlers run in a transaction of this scope.
    this.jobs = new Jobs(context, (fn) => this.transaction(fn));
    this.durableState = new DurableState(context);
    this.kv = new KeyValue(context);
    this.blobs = new Blobs(context);
    this.steps = new Steps(context);
    this.streams = new Streams(context);
    this.events = new Events(context);
    this.signals = new Signals(context);
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

  /** Commits when `fn` returns, rolls back when it throws; nested, it is a savepoint. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.context.db.transaction((db) => fn(new StoreScope({ ...this.context, db })), options);
  }
}

export type Transaction = StoreScope;
