/**
 * Samples the store every few seconds into a ring buffer: executions per status, queue depth, and
 * throughput. However many browsers poll the overview, the counting queries run once per interval.
 */

import type { ExecutionStatus, Logger, QueueStats, Store } from "../index.js";

export interface Sample {
  /** Unix milliseconds. */
  at: number;
  executions: Record<ExecutionStatus, number>;
  queues: QueueStats[];
  /** Jobs waiting or running, all queues. */
  depth: number;
  ready: number;
  running: number;
  dead: number;
  /** Executions that reached completed, failed, cancelled or timed_out, per minute, over the last 30 s. */
  finishedPerMinute: number;
}

const FINISHED: readonly ExecutionStatus[] = ["completed", "failed", "cancelled", "timed_out"];
const RATE_WINDOW_MS = 30_000;

export class Sampler {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    readonly intervalMs: number,
    /** How many samples to keep (the chart's width in time is capacity * intervalMs). */
    private readonly capacity: number,
  ) {}

  async start(): Promise<void> {
    await this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  latest(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }

  history(): Sample[] {
    return [...this.samples];
  }

  /** Takes one sample now, unless one is still being taken. */
  sample(): Promise<void> {
    this.inFlight ??= this.take().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async take(): Promise<void> {
    try {
      const [executions, queues] = await Promise.all([
        this.store.executions.countByStatus(),
        this.store.jobs.stats(),
      ]);
      const at = Date.now();
      const finished = FINISHED.reduce((sum, status) => sum + executions[status], 0);
      this.push({
        at,
        executions,
        queues,
        depth: queues.reduce((sum, q) => sum + q.waiting + q.running, 0),
        ready: queues.reduce((sum, q) => sum + q.ready, 0),
        running: queues.reduce((sum, q) => sum + q.running, 0),
        dead: queues.reduce((sum, q) => sum + q.dead, 0),
        finishedPerMinute: this.rate(at, finished),
      });
    } catch (error) {
      this.logger.warn({ error: error instanceof Error ? error.message : String(error) }, "dashboard sample");
    }
  }

  /** Finished executions per minute since the oldest sample inside the window (pruning can only lower it to 0). */
  private rate(at: number, finished: number): number {
    const base = this.samples.find((s) => at - s.at <= RATE_WINDOW_MS) ?? this.latest();
    if (!base || at <= base.at) return 0;
    const before = FINISHED.reduce((sum, status) => sum + base.executions[status], 0);
    return (Math.max(0, finished - before) * 60_000) / (at - base.at);
  }

  private push(sample: Sample): void {
    this.samples.push(sample);
    if (this.samples.length > this.capacity) this.samples.splice(0, this.samples.length - this.capacity);
  }
}
