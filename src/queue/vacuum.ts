/**
 * A worker's vacuum of the queue's tables. A claim rewrites each job's row and a completion deletes
 * it, and the index entries of the old rows stay until a VACUUM: each claim's index scan steps over
 * all of them at the head of its queue. After a burst of 100,000 jobs a one-job claim read about 800
 * pages instead of 8 (0.85 ms instead of 0.09) and the time from enqueue to handler doubled, until
 * autovacuum came, up to a minute later. So a worker that has finished many jobs vacuums the jobs
 * table (and its start marks) once it has nothing left to do, and, while the queue stays busy, every
 * 30 s; never sooner after the last vacuum than 5 s or fifty times what that one took, so it costs at
 * most about 2% of the server's time however big the table is. `skip_locked` passes a table another
 * worker (or autovacuum) is vacuuming already. Each vacuum first deletes the idle groups (no jobs
 * left, no limit of their own) of a window of groups, the next window at the next vacuum, and up to
 * 1,000 throttle windows that have ended.
 */

import type { StoreContext } from "../core/context.js";
import { deleteEndedWindows } from "./enqueue/throttle.js";
import { deleteIdleGroups, type GroupKey } from "./idle-groups.js";

/** While the queue stays busy, the least time between two vacuums. */
const BUSY_INTERVAL_MS = 30_000;

/** The least time between two vacuums, busy or not. */
const MIN_INTERVAL_MS = 5_000;

/** The time between two vacuums is at least this many times the last one's duration. */
const DURATION_FACTOR = 50;

export class QueueVacuum {
  private finishedAtLast = 0;
  /** When the last vacuum ended (none yet: when the worker started, for the busy interval). */
  private lastAt: number | undefined;
  private readonly createdAt = Date.now();
  private lastTookMs = 0;
  private running = false;
  /** Where the next window of groups to look for idle ones starts (null: at the first). */
  private groupsAfter: GroupKey | null = null;

  /** `after`: jobs finished between two vacuums (0: never vacuum). */
  constructor(
    private readonly context: StoreContext,
    private readonly after: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Vacuums if `finished` jobs (a running count) warrant it; `idle` when the worker has nothing to do. */
  consider(finished: number, idle: boolean): void {
    if (this.after === 0 || this.running || finished - this.finishedAtLast < this.after) return;
    const now = Date.now();
    if (
      this.lastAt !== undefined &&
      now - this.lastAt < Math.max(MIN_INTERVAL_MS, DURATION_FACTOR * this.lastTookMs)
    ) {
      return;
    }
    if (!idle && now - (this.lastAt ?? this.createdAt) < BUSY_INTERVAL_MS) return;
    this.running = true;
    this.finishedAtLast = finished;
    void this.vacuum();
  }

  // Async, so that a statement refused at once (a closed store throws as it is called) is reported
  // like any failure instead of escaping from whatever considered the vacuum.
  private async vacuum(): Promise<void> {
    const started = Date.now();
    const { q } = this.context;
    try {
      // Groups with no jobs left go first, a window at a time, so the vacuum reclaims their rows too.
      // A failure there is reported and leaves the vacuum to run all the same.
      const pass = await deleteIdleGroups(this.context, this.groupsAfter).catch((error: unknown) => {
        this.onError(error);
        return { next: this.groupsAfter };
      });
      this.groupsAfter = pass.next;
      // So do the throttle windows that have ended (those of keys not enqueued again).
      await deleteEndedWindows(this.context).catch(this.onError);
      // The groups' tables churn with the jobs of a grouped queue: a row per claim, a wake-up per enqueue.
      await this.context.db.query(
        `vacuum (skip_locked) ${q}.jobs, ${q}.job_starts, ${q}.job_groups, ${q}.job_group_wakeups, ${q}.job_throttles`,
      );
    } catch (error) {
      this.onError(error);
    } finally {
      this.lastAt = Date.now();
      this.lastTookMs = this.lastAt - started;
      this.running = false;
    }
  }
}
