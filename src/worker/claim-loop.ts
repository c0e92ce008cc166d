/**
 * The worker's claims: up to claimConcurrency in flight, each reserving what the prefetch asks for
 * (see prefetch.ts). A claim that comes back short says the queue is drained, and no claim goes out
 * again until a wake-up (a notification, the poll, a promotion). Claims are numbered, and their jobs
 * join the buffer in that order even when a later claim lands first: the start marks count on jobs
 * starting claim by claim. A claim that fails (a deadlock, a cancel, a dropped connection) is tried
 * again after a short wait that doubles up to a few seconds, not at the next poll: the work it was
 * woken for may have no other wake-up coming.
 */

import type { StoreContext } from "../core/context.js";
import {
  type ClaimedRow,
  claimRows,
  type Jobs,
  type LeasedJob,
  liveRows,
  toLeasedJob,
} from "../queue/index.js";
import type { ClaimSize, Prefetch } from "./prefetch.js";
import type { WorkerSettings } from "./settings.js";
import type { StartMarks } from "./start-marks.js";
import type { Buffered, WorkerState } from "./state.js";
import type { JobsScope } from "./types.js";

/** The wait before claiming again after a failed claim, doubled after each failure up to the most. */
const RETRY_FIRST_MS = 100;
const RETRY_MOST_MS = 5_000;

export interface ClaimLoopOf<Tx extends JobsScope> {
  context: StoreContext;
  settings: Pick<
    WorkerSettings,
    "queue" | "id" | "reserveMs" | "concurrency" | "claimConcurrency" | "pollIntervalMs"
  >;
  state: WorkerState<Tx>;
  jobs: Jobs;
  prefetch: Prefetch;
  marks: StartMarks;
  /** A statement was answered: the database can be reached. */
  reached(): void;
  /** A claim has landed (its jobs, if any, wait in the buffer). */
  landed(): void;
}

export class ClaimLoop<Tx extends JobsScope> {
  readonly inFlight = new Set<Promise<void>>();
  /** Set when a claim came back short (the queue is drained); cleared by a wake-up. */
  private drained = false;
  /** Jobs the claims in flight asked for. */
  private requested = 0;
  /** Counts wake-ups, so a claim that started before one cannot mark the queue drained after it. */
  private wakes = 0;
  private batches = 0;
  private previousLanding: Promise<unknown> = Promise.resolve();
  /** Set once stop() gave up waiting for the claims in flight. */
  private abandoned = false;
  /** The wait before the next claim after a failed one, and its timer while one is set. */
  private retryMs = RETRY_FIRST_MS;
  private retry: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly of: ClaimLoopOf<Tx>) {}

  /** True when the queue is drained and no claim is asking for jobs. */
  get idle(): boolean {
    return this.drained && this.requested === 0;
  }

  /** Resolves once the claims in flight have landed. */
  landed(): Promise<unknown> {
    return Promise.allSettled([...this.inFlight]);
  }

  /** There may be work: claims go out again. */
  wakeUp(): void {
    this.wakes++;
    this.drained = false;
    this.fill();
  }

  /** stop() waits for the claims in flight no more: their jobs go straight back as they land. */
  abandon(): void {
    this.abandoned = true;
  }

  /** Sends claims while the prefetch has room for them. */
  fill(): void {
    const { state, prefetch, settings } = this.of;
    while (!state.stopping && !this.drained && this.inFlight.size < settings.claimConcurrency) {
      const held = state.buffered.length + state.running.size + this.requested;
      const size = prefetch.nextClaim(held, state.buffered.length);
      if (!size) return;
      this.send(size);
    }
  }

  private send({ limit, enough }: ClaimSize): void {
    const { context, settings, state, prefetch, marks } = this.of;
    const { queue, id, reserveMs } = settings;
    this.requested += limit;
    const wakesAtStart = this.wakes;
    const reservation = { worker: marks.worker, batch: ++this.batches, letGo: marks.letGoIds };
    const before = this.previousLanding;
    const reservedUntil = Date.now() + reserveMs;
    const losses = state.link.losses;
    const claim = claimRows(
      context,
      { queue, workerId: id, limit, leaseMs: reserveMs },
      { promote: false, reservation },
    )
      .then(async ({ rows: claimed, more }) => {
        this.of.reached();
        state.link.reached(losses);
        this.retryMs = RETRY_FIRST_MS;
        state.totals.claimed(claimed);
        const rows = liveRows(claimed);
        await before;
        const batch = rows.map((row) => toLeasedJob(row, queue, id, reserveMs));
        // A claim short only because each group gave its share (or more groups wait their turn) leaves
        // the queue undrained: the next claim goes out at once.
        if (batch.length < limit && this.wakes === wakesAtStart && !more) {
          this.drained = true;
          prefetch.drained();
        } else if (batch.length === limit && limit >= enough) {
          prefetch.backlog(state.buffered.length === 0 && state.running.size < settings.concurrency);
        }
        marks.takenBack(batch, reservation.letGo);
        // A claim that lands after stop() gave up waiting for it: hand its jobs straight back (they
        // never started, so no attempt counts). The claim is done only then: stop() waits for it.
        if (state.stopping && this.abandoned) {
          const fresh = batch.filter((job) => !state.holding.has(job.id));
          if (fresh.length) await this.of.jobs.release(fresh).catch(state.onError);
          return;
        }
        this.take(rows, batch, reservation.batch, { reservedUntil, confirmedIn: losses });
      })
      .catch((error: unknown) => {
        this.drained = true; // not in a tight loop: after a wait
        this.retryLater();
        prefetch.claimFailed();
        state.onError(error);
      })
      .finally(() => {
        this.requested -= limit;
        this.inFlight.delete(claim);
        this.of.landed();
      });
    this.inFlight.add(claim);
    this.previousLanding = claim;
  }

  /**
   * Wakes the loop after the retry wait (the poll comes sooner when it is shorter). Unref'd: a stopped
   * worker's process must not wait for it, and a running one is kept alive by its poll.
   */
  private retryLater(): void {
    if (this.retry) return;
    const wait = Math.min(this.retryMs, this.of.settings.pollIntervalMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MOST_MS);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.of.state.stopping) this.wakeUp();
    }, wait);
    this.retry.unref();
  }

  /** Puts a landed claim's jobs in the buffer, or renews the lease of those the worker holds already. */
  private take(
    rows: ClaimedRow[],
    batch: LeasedJob[],
    claimNumber: number,
    { reservedUntil, confirmedIn }: Pick<Buffered, "reservedUntil" | "confirmedIn">,
  ): void {
    const { state } = this.of;
    batch.forEach((job, i) => {
      const mine = state.holding.get(job.id);
      if (mine) {
        mine.leaseToken = job.leaseToken;
        mine.leaseExpiresAt = job.leaseExpiresAt;
        const entry = state.buffered.find((waiting) => waiting.job === mine);
        if (entry) {
          entry.reservedUntil = Math.max(entry.reservedUntil, reservedUntil);
          entry.confirmedIn = Math.max(entry.confirmedIn, confirmedIn);
        }
        return;
      }
      state.holding.set(job.id, job);
      const runAtUs = (rows[i] as ClaimedRow).run_at_us;
      state.buffered.push({ job, batch: claimNumber, runAtUs, reservedUntil, confirmedIn });
    });
  }
}
