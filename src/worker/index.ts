/**
 * What the store uses of the worker: the queue with workers, which it offers as `store.jobs`, and the
 * shapes a worker takes and gives, generic over the store's transaction type.
 */

export {
  type TypedJobHandler,
  type TypedTransactionalWorkerOptions,
  type TypedWorkerOptions,
  WorkingQueue,
} from "./typed-queue.js";
export type {
  InTransaction,
  JobContext,
  JobHandler,
  JobOutcome,
  JobsScope,
  TransactionalJobContext,
  TransactionalWorkerOptions,
  Worker,
  WorkerOptions,
} from "./types.js";
export { WorkingJobs } from "./working-jobs.js";
