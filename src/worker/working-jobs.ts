/**
 * The queue as `store.jobs`: the queue's operations, and workers. Built on the queue, not part of it:
 * a worker runs its transactional handlers in transactions of the store that starts it, and the queue
 * knows nothing of stores or workers.
 */

import { backgroundOf } from "../core/background.js";
import type { StoreContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import { refuseOnReadOnly } from "../core/read-only.js";
import { Jobs, type QueueDefinition } from "../queue/index.js";
import { WorkingQueue } from "./typed-queue.js";
import type { InTransaction, JobsScope, TransactionalWorkerOptions, Worker, WorkerOptions } from "./types.js";
import { startWorker } from "./worker.js";

export class WorkingJobs<Tx extends JobsScope> extends Jobs {
  /** `inTransaction` runs a transactional handler in a transaction of the store. */
  constructor(
    context: StoreContext,
    private readonly inTransaction: InTransaction<Tx>,
  ) {
    super(context);
  }

  /** The typed queue of `Jobs.queue`, with `work` for a worker whose handler gets the queue's typed jobs. */
  override queue<Payloads extends object = Record<string, unknown>>(
    queue: string | QueueDefinition<Payloads>,
  ): WorkingQueue<Payloads, Tx> {
    return new WorkingQueue(queue, this);
  }

  /**
   * Starts a worker on this store (never inside a transaction). It runs until stopped, or until the
   * store closes, which stops it first; meanwhile it keeps the process alive.
   */
  work(options: TransactionalWorkerOptions<Tx>): Worker;
  work(options: WorkerOptions<Tx>): Worker;
  work(options: WorkerOptions<Tx> | TransactionalWorkerOptions<Tx>): Worker {
    if (this.context.db.inTransaction) {
      throw new ValidationError("start workers on the store, not inside a transaction", { field: "work" });
    }
    refuseOnReadOnly(this.context, "jobs.work()");
    const background = backgroundOf(this.context.driver);
    background.checkOpen();
    // A transactional handler's context has its transaction by the time the handler runs.
    const worker = startWorker(this, this.context, this.inTransaction, options as WorkerOptions<Tx>);
    void worker.stopped.then(background.add(worker));
    return worker;
  }
}
