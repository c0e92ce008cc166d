/**
 * How fast a worker's handlers take jobs from its buffer, measured over windows of at least 25 ms. A
 * worker holds no more jobs ahead than its handlers get through in a short while: with slow handlers
 * a large prefetch runs nothing sooner, and keeps the jobs it holds from other workers.
 */

import { performance } from "node:perf_hooks";

const WINDOW_MS = 25;

export class StartRate {
  private started = 0;
  private windowStartedAt = performance.now();
  private startedBeforeWindow = 0;
  /** Jobs started per millisecond over the last whole window; undefined until one has passed. */
  private perMs: number | undefined;

  add(count: number): void {
    this.started += count;
    this.roll();
  }

  /** How many jobs the handlers start in `ms` at the measured rate; undefined while not known yet. */
  jobsIn(ms: number): number | undefined {
    this.roll();
    return this.perMs === undefined ? undefined : this.perMs * ms;
  }

  private roll(): void {
    const now = performance.now();
    const elapsed = now - this.windowStartedAt;
    if (elapsed < WINDOW_MS) return;
    this.perMs = (this.started - this.startedBeforeWindow) / elapsed;
    this.windowStartedAt = now;
    this.startedBeforeWindow = this.started;
  }
}
