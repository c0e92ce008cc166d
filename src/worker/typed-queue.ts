/**
 * A typed queue on the store (`store.jobs.queue()`): enqueue as on any typed queue, and workers whose
 * handler gets the queue's jobs as a union on their name, so checking the name narrows the payload.
 * Types only: the worker is `store.jobs.work` with the queue's name filled in. A job enqueued under
 * another name (through the untyped enqueue) still reaches the handler: a `default` branch sees it.
 */

import { type Enqueues, type QueueDefinition, type TypedJob, TypedQueue } from "../queue/index.js";
import type * as Untyped from "./types.js";
import type { JobsScope, Worker, WorkerOptions } from "./types.js";

/** A handler as the worker's, but of a typed queue's jobs, given the context `C`. */
type Handler<Payloads, C> = (job: TypedJob<Payloads>, context: C) => ReturnType<Untyped.JobHandler>;

/** Runs one job of a typed queue: `job.name` tells which, and narrows `job.payload` to its type. */
export type TypedJobHandler<Payloads, Tx extends JobsScope = JobsScope> = Handler<
  Payloads,
  Untyped.JobContext<Tx>
>;

/** A typed queue's worker: the options of `jobs.work` but the queue, which the typed queue names. */
export interface TypedWorkerOptions<Payloads, Tx extends JobsScope = JobsScope>
  extends Omit<WorkerOptions<Tx>, "queue" | "handler"> {
  handler: TypedJobHandler<Payloads, Tx>;
}

/** A typed queue's worker with `transactional: true`, whose handler is given its transaction as `tx`. */
export interface TypedTransactionalWorkerOptions<Payloads, Tx extends JobsScope = JobsScope>
  extends Omit<Untyped.TransactionalWorkerOptions<Tx>, "queue" | "handler"> {
  handler: Handler<Payloads, Untyped.TransactionalJobContext<Tx>>;
}

/** What a typed queue on the store uses of it: enqueue, and work. */
export interface StartsWorkers<Tx extends JobsScope> extends Enqueues {
  work(options: WorkerOptions<Tx>): Worker;
}

export class WorkingQueue<
  Payloads extends object = Record<string, unknown>,
  Tx extends JobsScope = JobsScope,
> extends TypedQueue<Payloads> {
  constructor(
    queue: string | QueueDefinition<Payloads>,
    private readonly working: StartsWorkers<Tx>,
  ) {
    super(queue, working);
  }

  /** Starts a worker on this queue, as `store.jobs.work({ queue, ...options })`. */
  work(options: TypedTransactionalWorkerOptions<Payloads, Tx>): Worker;
  work(options: TypedWorkerOptions<Payloads, Tx>): Worker;
  work(options: TypedWorkerOptions<Payloads, Tx> | TypedTransactionalWorkerOptions<Payloads, Tx>): Worker {
    // The handler takes the queue's jobs, which the claims bring: the name and payload types are the caller's word.
    return this.working.work({ ...options, queue: this.name } as WorkerOptions<Tx>);
  }
}
