/**
 * Samples the store into a ring buffer: executions per status, queue depth, and throughput. However many
 * browsers poll the overview, the counting queries run once per interval, and only while someone looks:
 * they count whole tables, which a dashboard nobody has open should not do every few seconds.
 *
 * `start()` takes one sample (a baseline for the throughput rate). After that, sampling runs on demand:
 * a request that shows samples calls `demand()`, which starts the interval if it is stopped (sampling
 * at once, so the first request after a quiet spell gets fresh numbers, not ones from before it), and
 * the interval stops itself when no request has asked for `idleMs`.
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
  /** The sample taken when sampling resumed, until it is in: requests meanwhile wait for it. */
  private waking: Promise<void> | undefined;
  private lastDemand = 0;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    readonly intervalMs: number,
    /** How many samples to keep (the chart's width in time is capacity * intervalMs). */
    private readonly capacity: number,
    /** Sampling stops after this long without a demand() (default 60 s). */
    readonly idleMs = 60_000,
  ) {}

  /** Takes one sample, the baseline; sampling on an interval starts with the first demand(). */
  async start(): Promise<void> {
    await this.sample();
  }

  /**
   * Someone looks at the samples: keeps sampling for another `idleMs`. When sampling was stopped, it
   * starts again with a sample at once, and the promise resolves when that sample is in.
   */
  demand(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.lastDemand = Date.now();
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
      const waking = this.sample().finally(() => {
        if (this.waking === waking) this.waking = undefined;
      });
      this.waking = waking;
    }
    return this.waking ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pause();
    await this.inFlight;
  }

  private tick(): void {
    if (Date.now() - this.lastDemand >= this.idleMs) this.pause();
    else void this.sample();
  }

  private pause(): void {
    clearInterval(this.timer);
    this.timer = undefined;
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
