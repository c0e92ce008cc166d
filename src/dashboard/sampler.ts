/**
 * Samples the store into a ring buffer: executions per status, queue depth, and throughput. However many
 * browsers poll the overview, the counting queries run once per interval, and only while someone looks.
 * Executions are counted exactly up to a bound per status and estimated above it, and the throughput is
 * the runs that finished in the last 30 s (a range of the completion index), so a sample costs the same
 * at ten million runs as at ten.
 *
 * `start()` takes one sample (a baseline for the throughput rate). After that, sampling runs on demand:
 * a request that shows samples calls `demand()`, which starts the interval if it is stopped (sampling
 * at once, so the first request after a quiet spell gets fresh numbers, not ones from before it), and
 * the interval stops itself when no request has asked for `idleMs`.
 */

import type { ExecutionStatus, Logger, Store } from "../index.js";
import { type QueueFigures, queueFigures } from "./queue-figures.js";

export interface Sample {
  /** Unix milliseconds. */
  at: number;
  /** Exact up to 10,000 per status, an estimate above (see executions.statusCounts). */
  executions: Record<ExecutionStatus, number>;
  /** The statuses whose count is an estimate. */
  estimated: ExecutionStatus[];
  /** As the queues page shows them: with completed and failed runs, and limits. */
  queues: QueueFigures[];
  /** Jobs waiting or running, all queues. */
  depth: number;
  ready: number;
  running: number;
  dead: number;
  /** Executions that reached completed, failed, cancelled or timed_out, per minute, over the last 30 s. */
  finishedPerMinute: number;
}

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
      const at = Date.now();
      const [counts, queues, finished] = await Promise.all([
        this.store.executions.statusCounts(),
        queueFigures(this.store),
        this.store.executions.finishedSince(new Date(at - RATE_WINDOW_MS)),
      ]);
      const statuses = Object.keys(counts) as ExecutionStatus[];
      this.push({
        at,
        executions: Object.fromEntries(statuses.map((s) => [s, counts[s].count])) as Record<
          ExecutionStatus,
          number
        >,
        estimated: statuses.filter((s) => !counts[s].exact),
        queues,
        depth: queues.reduce((sum, q) => sum + q.waiting + q.running, 0),
        ready: queues.reduce((sum, q) => sum + q.ready, 0),
        running: queues.reduce((sum, q) => sum + q.running, 0),
        dead: queues.reduce((sum, q) => sum + q.dead, 0),
        finishedPerMinute: (finished * 60_000) / RATE_WINDOW_MS,
      });
    } catch (error) {
      this.logger.warn({ error: error instanceof Error ? error.message : String(error) }, "dashboard sample");
    }
  }

  private push(sample: Sample): void {
    this.samples.push(sample);
    if (this.samples.length > this.capacity) this.samples.splice(0, this.samples.length - this.capacity);
  }
}
