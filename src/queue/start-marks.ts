/**
 * The worker's start marks: each job it starts from its buffer has its attempt counted (markStarted),
 * in batches, one statement in flight at a time while the next batch gathers. The mark is sent before
 * the handler runs and not waited for, so a handler that brings its process down is counted in
 * practice; failing a job or handing it back waits for its mark, so an attempt is counted once.
 */

import type { StoreContext } from "../context.js";
import { markStarted } from "./leases.js";
import type { LeasedJob } from "./types.js";

export class StartMarks {
  private pending: LeasedJob[] = [];
  private pendingLanded: Promise<void> | undefined;
  private resolvePending: (() => void) | undefined;
  private inFlight: Promise<void> | undefined;
  /** For each job whose mark was asked for and has not landed: when it lands. */
  private readonly landing = new Map<string, Promise<void>>();

  constructor(
    private readonly context: StoreContext,
    private readonly onError: (error: unknown) => void,
  ) {}

  add(job: LeasedJob): void {
    if (!this.pendingLanded) {
      this.pendingLanded = new Promise((resolve) => {
        this.resolvePending = resolve;
      });
    }
    this.pending.push(job);
    this.landing.set(job.id, this.pendingLanded);
    this.flush();
  }

  /** Resolves once this job's mark has landed (or failed, which is reported). */
  landed(job: LeasedJob): Promise<void> {
    return this.landing.get(job.id) ?? Promise.resolve();
  }

  /** Resolves once the marks of all these jobs have landed. */
  async allLanded(jobs: readonly LeasedJob[]): Promise<void> {
    const waiting = new Set<Promise<void>>();
    for (const job of jobs) {
      const landing = this.landing.get(job.id);
      if (landing) waiting.add(landing);
    }
    if (waiting.size) await Promise.all(waiting);
  }

  async flushAll(): Promise<void> {
    this.flush();
    while (this.inFlight) await this.inFlight;
  }

  private flush(): void {
    if (this.inFlight || this.pending.length === 0) return;
    const batch = this.pending;
    const resolve = this.resolvePending as () => void;
    this.pending = [];
    this.pendingLanded = undefined;
    this.resolvePending = undefined;
    this.inFlight = markStarted(this.context, batch)
      .catch(this.onError)
      .finally(() => {
        for (const job of batch) this.landing.delete(job.id);
        resolve();
        this.inFlight = undefined;
        this.flush();
      });
  }
}
