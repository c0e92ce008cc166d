/**
 * What the parts of one worker share: the jobs it holds and where each stands (prefetched, running, or
 * being completed), its counts, whether it is stopping, where its errors go, and the statements it
 * sends on its own schedule.
 */

import { ConnectionError, StoreClosedError } from "../core/errors.js";
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
  /** The Link's losses counted when the statement that last confirmed the reservation was sent. */
  confirmedIn: number;
}

/**
 * What the worker knows of its connection to the database. A job it starts while it cannot reach the
 * database runs for nothing: its completion cannot be recorded, and once its reservation lapses another
 * worker runs it again. So once any of the worker's statements fails with a connection error (a claim,
 * a completion, a heartbeat, a start mark), prefetched jobs start again only after a statement sent
 * since then has answered for them: a claim that took them, or a heartbeat that extended their
 * reservation (on whichever server answers now, after a failover). Until then they wait, and those
 * whose reservation runs out meanwhile are dropped, unstarted, for another worker to take.
 */
export class Link {
  /** Losses seen: a statement sent before the latest one says nothing of the connection since. */
  losses = 0;
  private down = false;
  /** Called when a statement sent since the latest loss was answered: prefetched jobs may be confirmed now. */
  back: () => void = () => {};

  /** Whether the worker has not seen its connection fail since a statement last went through. */
  get up(): boolean {
    return !this.down;
  }

  /** One of the worker's statements failed with `error`. */
  failed(error: unknown): void {
    if (this.down || !(error instanceof ConnectionError) || error instanceof StoreClosedError) return;
    this.down = true;
    this.losses++;
  }

  /** A statement sent when `losses` were counted was answered. */
  reached(losses: number): void {
    if (!this.down || losses !== this.losses) return;
    this.down = false;
    this.back();
  }

  /** Whether a reservation confirmed by a statement sent when `losses` were counted lets its job start. */
  holds(losses: number): boolean {
    return losses === this.losses && !this.down;
  }
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
  readonly link = new Link();
  /** `onError` of the constructor, for the errors the worker survives; the link sees each first. */
  readonly onError: (error: unknown) => void;
  private readonly chores = new Set<Promise<unknown>>();

  /** The worker's share of the queue's totals, set once the worker is put together. */
  totals!: WorkerTotals;

  /** `report` gets the errors the worker survives. */
  constructor(report: (error: unknown) => void) {
    this.onError = (error) => {
      this.link.failed(error);
      // Once stopping, the store may close as soon as stop() resolves, and on one connection held by
      // handlers stop() does not wait for what it sent: a statement that finds the store closed then
      // is no error (a start mark it leaves behind is cleared by the queue's other workers).
      if (this.stopping && error instanceof StoreClosedError) return;
      report(error);
    };
  }

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
