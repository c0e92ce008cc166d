/**
 * How many jobs a worker holds ahead (its prefetch, running jobs included) and how many each claim
 * asks for. The prefetch starts at its least, doubles while claims come back full (a backlog), but
 * holds no more than the handlers start in a short while, and halves as the queue drains. The claims
 * in flight share it; after a wake-up they start small and grow, so the first jobs start early.
 */

import type { WorkerSettings } from "./settings.js";
import { StartRate } from "./start-rate.js";

/** By default a worker holds no more jobs than its handlers start in this time (see start-rate.ts). */
const PREFETCH_HORIZON_MS = 250;

/** The next claim: how many jobs it asks for, and how many make it worth sending (see Prefetch.nextClaim). */
export interface ClaimSize {
  limit: number;
  enough: number;
}

type Bounds = Pick<WorkerSettings, "concurrency" | "claimConcurrency" | "minBatch" | "maxBatch">;

export class Prefetch {
  /** Jobs held ahead, running ones included. */
  private size: number;
  /** The most one claim asks for: the prefetch shared among the claims in flight. */
  private claimSize = 0;
  private readonly firstClaimSize: number;
  private nextClaimSize: number;
  private readonly startRate = new StartRate();

  constructor(private readonly bounds: Bounds) {
    this.size = bounds.minBatch;
    this.resize(bounds.minBatch);
    // Claims start small and grow fourfold up to claimSize: woken to a backlog, the first jobs start
    // after a short claim instead of waiting for a full one (a claim of 1,000 takes tens of milliseconds).
    this.firstClaimSize = Math.min(this.claimSize, bounds.concurrency * 2);
    this.nextClaimSize = this.firstClaimSize;
  }

  /**
   * The next claim, while `held` jobs are held (prefetched, running or asked for) and `waiting` of them
   * wait in the buffer; undefined when none should go out yet. A claim goes out once a quarter of the
   * prefetch is free, not a whole claim's worth: waiting for that, the buffer ran dry while the claim
   * was on its way.
   */
  nextClaim(held: number, waiting: number): ClaimSize | undefined {
    const room = this.size - held;
    const limit = Math.min(room, this.nextClaimSize);
    const enough = Math.min(this.nextClaimSize, Math.max(1, Math.floor(this.size / 4)));
    if (limit < 1 || (limit < enough && waiting > 0)) return undefined;
    this.nextClaimSize = Math.min(this.claimSize, this.nextClaimSize * 4);
    return { limit, enough };
  }

  /** A claim came back short with no wake-up meanwhile: the queue is drained. */
  drained(): void {
    this.nextClaimSize = this.firstClaimSize;
    this.resize(this.size / 2);
  }

  /**
   * A claim of at least `enough` came back full: a backlog. The prefetch doubles, but holds no more
   * than the handlers start in PREFETCH_HORIZON_MS (nothing more while that is not measured yet),
   * unless `starved`: handlers were free and nothing waited for them as the claim landed. The claims
   * then set the pace, not the handlers, and the start rate measures them: with claims slower than
   * PREFETCH_HORIZON_MS (a far or busy server, PGlite on a loaded machine) it stayed below the least
   * prefetch, which then never grew. (Counting only claims of a whole claimSize, it never grew with one
   * claim in flight, or on PGlite: the running jobs always took some room.)
   */
  backlog(starved: boolean): void {
    const paced = this.startRate.jobsIn(PREFETCH_HORIZON_MS) ?? this.bounds.minBatch;
    this.resize(starved ? this.size * 2 : Math.min(this.size * 2, paced));
  }

  /** A claim failed: the next one, at the next poll, starts small again. */
  claimFailed(): void {
    this.nextClaimSize = this.firstClaimSize;
  }

  /** Handlers took `count` jobs from the buffer. */
  started(count: number): void {
    this.startRate.add(count);
  }

  /** How many finished jobs justify a second completion statement while one is in flight. */
  get secondFlushMin(): number {
    return Math.max(this.bounds.concurrency, Math.floor(this.claimSize / 4));
  }

  private resize(size: number): void {
    const { minBatch, maxBatch, claimConcurrency } = this.bounds;
    // Whole jobs: a claim's limit is the room left, and a limit of 62.5 jobs is refused.
    this.size = Math.min(maxBatch, Math.max(minBatch, Math.floor(size)));
    this.claimSize = Math.max(1, Math.floor(this.size / claimConcurrency));
  }
}
