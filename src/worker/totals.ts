/**
 * A worker's share of the queue's totals (queue/totals.ts) that no statement of the queue counts by
 * itself: the runs it starts, with how long each job had waited since it was due, and what its claims
 * saw (jobs taken back after a lease expired, jobs gone dead). Completions and failures count in their
 * own statements. Starts wait here until the start mark that makes them attempts takes them
 * (start-marks.ts), in the same statement; a claim's counts are added as it lands, in a statement of
 * their own, which only a claim that took a job back or sent one dead needs. Whatever is left when the
 * worker stops goes with its last fold.
 */

import type { StoreContext } from "../core/context.js";
import {
  addCounts,
  addTotals,
  type ClaimedRow,
  noteAdditions,
  WAIT_BUCKETS,
  WAIT_SUM_US,
  waitBucketName,
} from "../queue/index.js";

export class WorkerTotals {
  /** Starts counted and not yet taken by a start mark (or counts whose write failed, to go again). */
  private pending = new Map<string, number>();

  constructor(
    private readonly context: StoreContext,
    readonly queue: string,
    /** Keeps track of a write, so the worker's stop waits for it (WorkerState.chore). */
    private readonly chore: (work: Promise<void>) => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** A job's handler is to start, `waitedMs` after the job was due. */
  started(waitedMs: number): void {
    const seconds = Math.max(0, waitedMs) / 1000;
    const le = WAIT_BUCKETS.find((bound) => seconds <= bound);
    add(this.pending, "started", 1);
    if (le !== undefined) add(this.pending, waitBucketName(le), 1);
    add(this.pending, WAIT_SUM_US, Math.round(seconds * 1e6));
  }

  /** The counts waiting to be written, now the caller's to write (a start mark's); none when empty. */
  take(): Map<string, number> | undefined {
    if (this.pending.size === 0) return undefined;
    const counts = this.pending;
    this.pending = new Map();
    return counts;
  }

  /** Counts taken whose write failed: they go with the next one. */
  putBack(counts: Map<string, number>): void {
    for (const [name, n] of counts) add(this.pending, name, n);
  }

  /** A claim's rows: jobs it took back from an expired lease, and jobs that went dead in it, added now. */
  claimed(rows: readonly ClaimedRow[]): void {
    const counts = new Map<string, number>();
    for (const row of rows) {
      if (row.taken_back) add(counts, "lease_expired", 1);
      if (row.status === "dead") add(counts, "dead", 1);
    }
    if (counts.size === 0) return;
    void this.chore(
      addCounts(this.context, this.queue, counts).then(
        () => noteAdditions(this.context, counts.size),
        (error: unknown) => {
          this.putBack(counts);
          this.onError(error);
        },
      ),
    );
  }

  /** At the worker's stop, once its runs have ended: folds the additions, with what is left here. */
  async stop(): Promise<void> {
    const counts = this.take() ?? new Map<string, number>();
    try {
      await addTotals(this.context, this.queue, counts);
    } catch (error) {
      this.putBack(counts);
      throw error;
    }
  }
}

function add(counts: Map<string, number>, name: string, n: number): void {
  if (n > 0) counts.set(name, (counts.get(name) ?? 0) + n);
}
