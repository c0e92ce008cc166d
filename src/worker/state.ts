/**
 * What the parts of one worker share: the jobs it holds and where each stands (prefetched, running, or
 * being completed), its counts, whether it is stopping, where its errors go, and the statements it
 * sends on its own schedule.
 */

import type { LeasedJob } from "../queue/index.js";
import type { Held } from "./held.js";
import type { WorkerTotals } from "./totals.js";
import type { JobsScope } from "./types.js";

/** A prefetched job, and the claim (batch) it came in: jobs start in claim order (see start-marks.ts). */
export interface Buffered {
  job: LeasedJob;
  batch: number;
  runAtUs: string;
  /** This process's time until which the reservation surely holds: when the claim or heartbeat was sent, plus its lease. */
  reservedUntil: number;
}

export class WorkerState<Tx extends JobsScope> {
  /**
   * Every job this worker holds a lease on, prefetched, running or being completed, by id: a claim
   * that brings one back (its lease ran out while a long transaction held the only connection) renews
   * the lease under the new token instead of starting the job a second time.
   */
  readonly holding = new Map<string, LeasedJob>();
  /** Prefetched jobs not started yet, in the order they start. */
  readonly buffered: Buffered[] = [];
  readonly running = new Map<string, Held<Tx>>();
  /** Jobs completed, failed (including retries) so far: the worker's handle shows this object. */
  readonly counts = { completed: 0, failed: 0 };
  stopping = false;
  private readonly chores = new Set<Promise<unknown>>();

  /** The worker's share of the queue's totals, set once the worker is put together. */
  totals!: WorkerTotals;

  /** `onError` gets the errors the worker survives. */
  constructor(readonly onError: (error: unknown) => void) {}

  /**
   * Keeps track of a statement sent on the worker's own schedule (heartbeats, promotions, hand-backs),
   * which stop() waits for: once it resolves the store may close, and one sent after that would fail.
   */
  chore<T>(work: Promise<T>): Promise<T> {
    this.chores.add(work);
    const done = () => this.chores.delete(work);
    work.then(done, done);
    return work;
  }

  /** Resolves once the statements sent so far on the worker's own schedule have answered. */
  choresSettled(): Promise<unknown> {
    return Promise.allSettled([...this.chores]);
  }
}
