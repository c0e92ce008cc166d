/**
 * How a worker records the end of a run other than a completion (the completer batches those): a
 * failure, a snooze, or a transactional handler's transaction. The race to mind is with the worker's
 * own claims. A job's lease may lapse while its handler runs, and a claim of the same worker may take
 * the job back meanwhile, under a new lease token. The worker renews the lease of a job it still holds
 * as the claim lands, rather than starting the job again; but an end sent under the old token before
 * that is refused as if the lease were lost. The job is still this worker's, and the run happened:
 * it must be recorded (or, if it cannot be, counted by whichever claim takes the job back later).
 */

import { LeaseLostError, ValidationError } from "../core/errors.js";
import type { Jobs, LeasedJob } from "../queue/index.js";
import type { FailureWarnings } from "./failure-warnings.js";
import type { StartMarks } from "./start-marks.js";

/**
 * True when `error` says this job's own lease is gone: the LeaseLostError of the job's own heartbeat,
 * completion or snooze, or the one the worker aborts the handler with when a heartbeat found the lease
 * lost, lists the job among those `lost`. A LeaseLostError about anything else (a timer the handler
 * acked, another job) is the handler's failure like any error.
 */
export function ownLeaseLost(error: unknown, job: LeasedJob): boolean {
  if (!(error instanceof LeaseLostError)) return false;
  const lost = (error as LeaseLostError & { lost?: unknown }).lost;
  const id = job.id.toLowerCase();
  return Array.isArray(lost) && lost.some((lostId) => String(lostId).toLowerCase() === id);
}

/** The time a handler's result asks to run its job again at, if it asks. */
export function snoozeUntil(outcome: unknown): Date | undefined {
  if (typeof outcome !== "object" || outcome === null || !("snoozeUntil" in outcome)) return undefined;
  const until = (outcome as { snoozeUntil: unknown }).snoozeUntil;
  if (until instanceof Date) return until;
  throw new ValidationError("a handler's snoozeUntil must be a Date", { field: "snoozeUntil" });
}

export interface RunEndsOf {
  jobs: Jobs;
  marks: StartMarks;
  /** Every job the worker holds a lease on, by id (see state.ts). */
  holding: Map<string, LeasedJob>;
  /** Resolves once the worker's claims in flight have landed. */
  landed(): Promise<unknown>;
  onError(error: unknown): void;
  /** Tells each recorded failure through the store's logger. */
  warnings: FailureWarnings;
}

export class RunEnds {
  constructor(private readonly worker: RunEndsOf) {}

  /**
   * Sends a run's end (`send` reads the job's lease token as it sends) while the job stays among those
   * held. Refused as lost, it waits for the claims in flight: if one of them renewed the lease, the end
   * goes again under the new token; otherwise the LeaseLostError stands. Other errors are thrown as
   * they come.
   */
  async underLease(job: LeasedJob, send: () => Promise<unknown>): Promise<void> {
    let sent = job.leaseToken;
    for (;;) {
      try {
        await send();
        break;
      } catch (failure) {
        if (!(failure instanceof LeaseLostError)) throw failure;
        await this.worker.landed();
        if (job.leaseToken === sent) throw failure;
        sent = job.leaseToken;
      }
    }
    await this.handBackIfRetaken(job, sent);
  }

  /**
   * After an end recorded under `sent`: a lease renewed since then is a claim that took the job afresh
   * (a snooze or a failure put it back to wait), which the worker took for its own. It goes back
   * unstarted.
   */
  async handBackIfRetaken(job: LeasedJob, sent: string): Promise<void> {
    if (job.leaseToken !== sent) await this.worker.jobs.release(job).catch(this.worker.onError);
  }

  /**
   * Records a failed run, and tells it (see failure-warnings.ts). If the lease went elsewhere, fail() says so, and that is reported like any
   * lost lease; if the failure could not be recorded, the job stays this worker's until its lease lapses
   * (see StartMarks.letGo).
   */
  async fail(job: LeasedJob, error: unknown): Promise<void> {
    const { jobs, marks, holding, onError, warnings } = this.worker;
    try {
      await this.underLease(job, async () => {
        warnings.failed(await jobs.fail(job, error));
      });
    } catch (failure) {
      if (!(failure instanceof LeaseLostError)) marks.letGo(job.id);
      onError(failure);
    } finally {
      holding.delete(job.id);
    }
  }

  /**
   * A transactional handler's completion or snooze, sent under `sent`, was refused as lost, and its
   * transaction rolled back. True when a claim of this worker's had renewed the lease meanwhile: the
   * job is still this worker's, and the run, whose writes are gone with its transaction, is to be
   * recorded as a failure under the renewed lease. (Left to the claim that takes the job back later,
   * it could go uncounted: that claim compares the start marks with the batch of the claim that
   * renewed the lease, which no mark may reach.)
   */
  async retaken(job: LeasedJob, sent: string): Promise<boolean> {
    await this.worker.landed();
    return job.leaseToken !== sent;
  }
}
