/**
 * A worker's start marks: its row in job_starts (see queue/job-starts.ts), which says how far it has
 * got in starting the jobs it reserved, so that a prefetched job's attempt counts only once it starts.
 *
 * A mark is sent before the handlers it covers run and is not waited for, one statement in flight at a
 * time: a handler that brings its process down is counted in practice, as long as its mark made it out.
 * The worker also keeps here the runs it let go of without recording their end (letGo), which its
 * claims name so that taking one back counts it. Each mark carries the starts it covers to the queue's
 * totals (see totals.ts): a run counts as started in the statement that makes it an attempt.
 */

import { randomUUID } from "node:crypto";
import type { StoreContext } from "../core/context.js";
import { deleteStartMark, markStarted, type StartPlace, stillReserved } from "../queue/index.js";
import type { WorkerTotals } from "./totals.js";

/** What a worker's claims pass as letGo while it has let go of no run. */
const NONE: readonly string[] = [];

export class StartMarks {
  /** This worker's own id for its reservations and its job_starts row (a new one per run). */
  readonly worker = randomUUID();
  private latest: StartPlace | undefined;
  private sent: StartPlace | undefined;
  private inFlight: Promise<void> | undefined;
  /**
   * Jobs whose run this worker started and could not record the end of (its failure or completion
   * failed): each stays reserved in the worker's name until its lease lapses. In the database, a job
   * the worker's own claim takes back then looks the same as one whose handler still runs (and whose
   * run counts when it ends), so the worker's claims name these: taking one back counts its run.
   */
  private readonly unrecorded = new Set<string>();

  constructor(
    private readonly context: StoreContext,
    /** The worker's leaseMs, which each mark records (see queue/job-starts.ts, startLeaseHeld). */
    private readonly leaseMs: number,
    /** The worker's counts: the starts each mark covers go with it. */
    private readonly totals: WorkerTotals,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Records that every job up to `place` in the start order has started. */
  started(place: StartPlace): void {
    this.latest = place;
    this.flush();
  }

  /** Records that the worker let go of this started job without recording the end of its run. */
  letGo(jobId: string): void {
    this.unrecorded.add(jobId);
  }

  /** The jobs the worker let go of, for its claims (see letGo). */
  get letGoIds(): readonly string[] {
    return this.unrecorded.size ? [...this.unrecorded] : NONE;
  }

  /**
   * A claim of the worker, sent naming `named` (letGoIds when it went out), brought these jobs back: the
   * runs it let go of among them and named are counted now. One let go of after the claim went out was
   * not named, so not counted: it stays, for the next claim that takes the job back.
   */
  takenBack(jobs: readonly { id: string }[], named: readonly string[]): void {
    if (this.unrecorded.size === 0 || named.length === 0) return;
    const counted = new Set(named);
    for (const job of jobs) if (counted.has(job.id)) this.unrecorded.delete(job.id);
  }

  /**
   * Forgets the jobs let go of that are no longer reserved by this worker: another worker took them
   * back (and counted their run), or they went dead as this worker's claim took them.
   */
  async forgetTakenBack(): Promise<void> {
    if (this.unrecorded.size === 0) return;
    const asked = [...this.unrecorded];
    const still = await stillReserved(this.context, this.worker, asked);
    for (const id of asked) if (!still.has(id)) this.unrecorded.delete(id);
  }

  /** Resolves once the latest mark has landed. */
  async flushAll(): Promise<void> {
    this.flush();
    while (this.inFlight) await this.inFlight;
  }

  /** Removes this worker's row, once none of its reservations is left. */
  async forget(): Promise<void> {
    await this.flushAll();
    await deleteStartMark(this.context, this.worker);
  }

  private flush(): void {
    const place = this.latest;
    if (this.inFlight || !place || place === this.sent) return;
    this.sent = place;
    const counts = this.totals.take();
    this.inFlight = markStarted(this.context, this.worker, place, this.leaseMs, this.totals.queue, counts)
      .then(
        () => undefined,
        (error: unknown) => {
          if (counts) this.totals.putBack(counts);
          this.onError(error);
        },
      )
      .finally(() => {
        this.inFlight = undefined;
        this.flush();
      });
  }
}
