/**
 * The worker's batch completer. Finished jobs gather while a completion statement is in flight and go
 * in the next one. A second flush may overlap the first only with a large batch: a statement has a fixed
 * cost, and one that completes a single job holds that slot while hundreds of finished jobs wait.
 */

import { Batches } from "../core/batches.js";
import { ConnectionError, LeaseLostError, StoreClosedError } from "../core/errors.js";
import { withTransactionRetries } from "../db/driver.js";
import type { Jobs, LeasedJob } from "../queue/index.js";

/** Deadlocks a completion may lose before its jobs are left to run again. */
const COMPLETION_RETRIES = 5;
/** A completion the server did not receive is sent again after this pause, doubling up to the most. */
const RESEND_FIRST_MS = 100;
const RESEND_MAX_MS = 1_000;

export interface CompleterEvents {
  /**
   * These jobs are completed; `lost` ones are no longer ours to complete; `unrecorded` ones could not
   * be completed (the statement failed) and stay ours until their leases lapse.
   */
  settled(jobs: readonly LeasedJob[], lost: readonly LeasedJob[], unrecorded: readonly LeasedJob[]): void;
  error(error: unknown): void;
  /** Resolves once the worker's claims in flight have landed: one may have renewed a lease we lost. */
  claimsLanded(): Promise<unknown>;
}

export class Completer {
  /** Every finished job waiting goes in the next statement; two statements at most in flight. */
  private readonly batches: Batches<LeasedJob>;

  constructor(
    private readonly jobs: Jobs,
    private readonly keepCompleted: boolean,
    /** The worker's queue, which every job it completes is of. */
    private readonly queue: string,
    /** How many finished jobs justify a second statement while one is in flight (it may change). */
    secondFlushMin: () => number,
    private readonly events: CompleterEvents,
    /** How long a finished job's lease can still hold: its last renewal was for at most this long. */
    private readonly leaseMs: number,
    /**
     * The store has one connection: the jobs that finish in a turn go together at its end. On PGlite a
     * statement ends before the next turn, so none could gather behind one in flight.
     */
    singleConnection = false,
  ) {
    this.batches = new Batches<LeasedJob>({
      send: (batch) => this.completeThroughOutage(batch),
      failed: (batch, error) => {
        // Not completed: the leases will expire and the jobs run again (at-least-once).
        this.events.error(error);
        this.events.settled([], [], batch);
      },
      maxInFlight: 2,
      overlapMin: secondFlushMin,
      gatherTurn: singleConnection,
    });
  }

  add(job: LeasedJob): void {
    this.batches.add(job);
  }

  /** True while finished jobs wait to be completed or a completion is in flight. */
  get busy(): boolean {
    return this.batches.busy;
  }

  /** Resolves once every job added so far has been sent and answered. */
  flushAll(): Promise<void> {
    return this.batches.flushed();
  }

  /**
   * Completes `batch`, sending it again while the server cannot be reached (a lost connection, a
   * failover), for as long as the leases can hold: the jobs ran, and each one completed now is one
   * that does not run again. A completion that did land before its connection failed is found gone
   * under its token when sent again, which is no loss of a lease: those jobs are settled quietly.
   */
  private async completeThroughOutage(batch: LeasedJob[]): Promise<void> {
    const giveUpAt = Date.now() + this.leaseMs;
    for (let pauseMs = RESEND_FIRST_MS, resent = false; ; pauseMs = Math.min(pauseMs * 2, RESEND_MAX_MS)) {
      try {
        return await this.complete(batch, resent);
      } catch (error) {
        const unreached = error instanceof ConnectionError && !(error instanceof StoreClosedError);
        if (!unreached || Date.now() + pauseMs >= giveUpAt) throw error;
        this.events.error(error);
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
        resent = true;
      }
    }
  }

  private async complete(batch: LeasedJob[], resent = false): Promise<void> {
    let sent: string[] = [];
    // Each attempt reads the tokens afresh: the worker may have taken a job's lease again meanwhile.
    const lostIds = await withTransactionRetries(() => {
      sent = batch.map((job) => job.leaseToken);
      return this.jobs.completeMany(batch, this.keepCompleted, this.queue);
    }, COMPLETION_RETRIES);
    if (lostIds.length === 0) {
      this.events.settled(batch, [], []);
      return;
    }
    await this.events.claimsLanded();
    const lostSet = new Set(lostIds);
    const completed: LeasedJob[] = [];
    const lost: LeasedJob[] = [];
    batch.forEach((job, i) => {
      if (!lostSet.has(job.id)) completed.push(job);
      // Its lease was renewed under a new token while the statement was on its way: complete it again.
      else if (job.leaseToken !== sent[i]) this.batches.addForNext(job);
      else lost.push(job);
    });
    this.events.settled(completed, lost, []);
    if (lost.length && !resent) {
      const ids = lost.map((job) => job.id);
      this.events.error(
        new LeaseLostError(`lost the lease of ${ids.length} completed job(s): ${ids.join(", ")}`),
      );
    }
  }
}
