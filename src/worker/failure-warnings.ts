/**
 * A handler's failure told through the store's logger, where the developer looks, rather than only in
 * the job's row: a handler with a bug would otherwise fail attempt after attempt without a word. A job
 * that goes dead is always told. Failed attempts that leave a retry are told up to PER_SECOND a second;
 * a storm beyond that is counted, and the count told once the second is over.
 */

import type { Logger } from "../core/logger.js";
import type { Jobs } from "../queue/index.js";

/** A job's row as fail() returns it. */
type Job = Awaited<ReturnType<Jobs["fail"]>>;

/** Failed attempts told a second, per worker, before the rest are only counted. */
export const PER_SECOND = 10;

export class FailureWarnings {
  private windowStart = 0;
  private told = 0;
  private untold = 0;
  private summary: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly queue: string,
  ) {}

  /** Tells of the failed run recorded as `job` (the row fail() returned). */
  failed(job: Job): void {
    const dead = job.status === "dead";
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.told = 0;
    }
    if (!dead && this.told >= PER_SECOND) {
      this.untold++;
      // Told once the second is over: the storm may have stopped by then. Unref'd: it must not keep a
      // process alive that has nothing else to do.
      this.summary ??= setTimeout(() => this.tellUntold(), 1000 - (now - this.windowStart));
      this.summary.unref?.();
      return;
    }
    this.told++;
    const message = job.lastError?.message ?? "unknown error";
    const entry = {
      queue: job.queue,
      jobId: job.id,
      name: job.name,
      attempt: job.attempts,
      maxAttempts: job.maxAttempts,
      error: job.lastError,
    };
    const run = `job ${job.name} (${job.id}) in queue ${job.queue} failed attempt ${job.attempts} of ${job.maxAttempts}`;
    this.logger.warn(
      dead ? { ...entry, status: "dead" } : { ...entry, retryAt: job.runAt.toISOString() },
      dead
        ? `${run}, its last, and is dead: ${message}`
        : `${run}: ${message}; retried at ${job.runAt.toISOString()}`,
    );
  }

  /** Tells how many failed attempts were not told, if any; the worker calls it as it stops too. */
  tellUntold(): void {
    if (this.summary) clearTimeout(this.summary);
    this.summary = undefined;
    if (this.untold === 0) return;
    const count = this.untold;
    this.untold = 0;
    this.logger.warn(
      { queue: this.queue, untold: count },
      `${count} more failed attempt${count === 1 ? "" : "s"} in queue ${this.queue} not shown (at most ${PER_SECOND} a second are); see jobs list or the dashboard`,
    );
  }
}
