/**
 * A worker's share of the queue's totals (queue/totals.ts): what it started, completed, failed, saw
 * go dead and took back after a lease expired, and how long each job it started had waited since it
 * was due. Counted in memory and added to the store every few seconds while there is something to
 * add, and when the worker stops: one statement per interval, none per job.
 */

import type { StoreContext } from "../core/context.js";
import { addTotals, type ClaimedRow, WAIT_BUCKETS, WAIT_SUM_US, waitBucketName } from "../queue/index.js";

/** How often a worker adds its counts (and moves the enqueues' additions into the totals). */
export const TOTALS_INTERVAL_MS = 5_000;

export class WorkerTotals {
  private counts = new Map<string, number>();
  private writing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly context: StoreContext,
    private readonly queue: string,
    /** Keeps track of the write, so the worker's stop waits for it (WorkerState.chore). */
    private readonly chore: (work: Promise<void>) => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {
    this.timer = setInterval(() => void this.write(), TOTALS_INTERVAL_MS);
    this.timer.unref();
  }

  add(name: string, n = 1): void {
    if (n > 0) this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }

  /** A job's handler started, `waitedMs` after the job was due. */
  started(waitedMs: number): void {
    this.add("started");
    const seconds = Math.max(0, waitedMs) / 1000;
    const le = WAIT_BUCKETS.find((bound) => seconds <= bound);
    if (le !== undefined) this.add(waitBucketName(le));
    this.add(WAIT_SUM_US, Math.round(seconds * 1e6));
  }

  /** A claim's rows: jobs it took back from an expired lease, and jobs that went dead in it. */
  claimed(rows: readonly ClaimedRow[]): void {
    for (const row of rows) {
      if (row.taken_back) this.add("lease_expired");
      if (row.status === "dead") this.add("dead");
    }
  }

  /** Adds what was counted since the last write; a failed write keeps its counts for the next. */
  write(): Promise<void> {
    if (this.writing || this.counts.size === 0) return this.writing ?? Promise.resolve();
    const counts = this.counts;
    this.counts = new Map();
    this.writing = this.chore(
      addTotals(this.context, this.queue, counts).catch((error: unknown) => {
        for (const [name, n] of counts) this.add(name, n);
        this.onError(error);
      }),
    ).finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  /** At the worker's stop, once its runs have ended: the last write. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    await this.write();
  }
}
