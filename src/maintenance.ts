/**
 * Scheduled retention: `store.startMaintenance()` runs `store.prune()` every `intervalMs`, cutting at
 * `olderThanMs` ago, so finished work does not pile up while nobody remembers to prune. Several
 * processes may run it at once: prune takes its batches with SKIP LOCKED, so they share the work.
 */

import { ValidationError } from "./errors.js";
import { checkPruneOptions, type PruneOptions, type PruneResult } from "./retention.js";

export interface MaintenanceOptions {
  /** Finished executions, completed-job history and dead jobs older than this many milliseconds are pruned. */
  olderThanMs: number;
  /** Milliseconds between the end of one run and the start of the next (default 10 minutes). */
  intervalMs?: number;
  /** Passed on to prune. */
  statuses?: PruneOptions["statuses"];
  batchSize?: number;
  /** Called after each committed batch of a run with the run's totals so far. */
  onProgress?: PruneOptions["onProgress"];
  /** Called after each run with what it removed. */
  onRun?: (result: PruneResult & { finishedBefore: Date }) => void;
  /** Called when a run fails; the next run is tried at the next interval. Default: a warning. */
  onError?: (error: unknown) => void;
  /** Stops maintenance when aborted. */
  signal?: AbortSignal;
}

export interface Maintenance {
  /** Stops: the run in progress ends after its current batch, and no run starts after. */
  stop(): Promise<void>;
}

const DEFAULT_INTERVAL_MS = 10 * 60_000;
const MAX_TIMER_MS = 2_147_483_647;

export function startMaintenance(
  prune: (options: PruneOptions) => Promise<PruneResult>,
  options: MaintenanceOptions,
  warn: (error: unknown) => void,
): Maintenance {
  const olderThanMs = options?.olderThanMs;
  if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
    throw new ValidationError("olderThanMs must be a number of milliseconds, 0 or more", {
      field: "olderThanMs",
    });
  }
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  // A timer's delay is a 32-bit integer: Node runs anything longer after 1 ms.
  if (!Number.isInteger(intervalMs) || intervalMs < 1 || intervalMs > MAX_TIMER_MS) {
    throw new ValidationError(`intervalMs must be an integer from 1 to ${MAX_TIMER_MS} (about 24 days)`, {
      field: "intervalMs",
    });
  }
  checkPruneOptions({
    finishedBefore: new Date(Date.now() - olderThanMs),
    statuses: options.statuses,
    batchSize: options.batchSize,
  });
  const onError = options.onError ?? warn;
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const run = async () => {
    const finishedBefore = new Date(Date.now() - olderThanMs);
    try {
      const result = await prune({
        finishedBefore,
        statuses: options.statuses,
        batchSize: options.batchSize,
        onProgress: options.onProgress,
        signal: stopping.signal,
      });
      options.onRun?.({ ...result, finishedBefore });
    } catch (error) {
      try {
        onError(error);
      } catch (thrown) {
        warn(thrown); // a run never rejects, so the next one is always scheduled
      }
    }
  };
  const schedule = (delayMs: number) => {
    if (stopping.signal.aborted) return;
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined;
        schedule(intervalMs);
      });
    }, delayMs);
    // Maintenance alone never keeps the process alive.
    timer.unref();
  };

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping.abort();
      clearTimeout(timer);
      await running;
    })();
    return stopped;
  };
  if (options.signal?.aborted) void stop();
  else {
    options.signal?.addEventListener("abort", () => void stop(), { once: true });
    schedule(0);
  }
  return { stop };
}
