/**
 * What the other folders use of the queue: the worker is built on the repository, the lease
 * statements, the start marks' table and the vacuum; retention deletes jobs with the rest.
 */

export { deleteJobsOf, deleteOldDeadJobs, deleteOrphanedJobHistory } from "./admin.js";
export { leaseLost } from "./checks.js";
export { type ClaimedRows, claimRows, promoteDue } from "./claim.js";
export {
  deleteStartMark,
  forgetIdleWorkers,
  markStarted,
  type StartPlace,
  stillReserved,
} from "./job-starts.js";
export { Jobs } from "./jobs.js";
export { forgetIdleQueues } from "./known-queues.js";
export { extendLeases } from "./leases.js";
export { type ClaimedRow, liveRows, toLeasedJob } from "./sql.js";
export { noteAdditions } from "./total-folds.js";
export {
  addCounts,
  addEnqueued,
  addTotals,
  type QueueTotals,
  WAIT_BUCKETS,
  WAIT_SUM_US,
  waitBucketName,
} from "./totals.js";
export {
  type Enqueues,
  type QueueDefinition,
  type TypedJob,
  TypedQueue,
} from "./typed.js";
export type { EnqueueJob, LeasedJob, QueueStats } from "./types.js";
export { QueueVacuum } from "./vacuum.js";
