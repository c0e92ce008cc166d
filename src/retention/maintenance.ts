/**
 * Scheduled retention: `store.startMaintenance()` runs `store.prune()` every `intervalMs`, cutting at
 * `olderThanMs` ago, so finished work does not pile up while nobody remembers to prune. Several
 * processes may run it at once: prune takes its batches with SKIP LOCKED, so they share the work.
 * After each prune it runs the `retention` tasks given: for state kept beside executions, such as an
 * adapter's (LangGraph checkpoints).
 */

import { ValidationError } from "../core/errors.js";
import { optionKeys, refuseUnknownKeys } from "../core/input.js";
import { checkPruneOptions, type PruneOptions, type PruneResult } from "./prune.js";

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
  /** More retention run after each prune, in order, such as `FlowstoreSaver.retentionTask()`. */
  retention?: readonly MaintenanceTask[];
  /** Called after each run with what it removed, and what each retention task returned (by name). */
  onRun?: (result: PruneResult & { finishedBefore: Date; retention: Record<string, unknown> }) => void;
  /** Called when a run fails; the next run is tried at the next interval. Default: a warning. */
  onError?: (error: unknown) => void;
  /** Stops maintenance when aborted. */
  signal?: AbortSignal;
}

/** Retention that maintenance runs after each prune. */
export interface MaintenanceTask {
  /** Names the task in `onRun`'s results and in errors. */
  readonly name: string;
  /**
   * Does one round; should stop early when `signal` aborts (maintenance is stopping). A task that
   * throws is reported to `onError` and tried again at the next run; the tasks after it still run.
   */
  run(signal: AbortSignal): Promise<unknown>;
}

export interface Maintenance {
  /** Stops: the run in progress ends after its current batch, and no run starts after. */
  stop(): Promise<void>;
}

const DEFAULT_INTERVAL_MS = 10 * 60_000;
const MAX_TIMER_MS = 2_147_483_647;

/** `onStopped` is called once maintenance has stopped, however it was stopped. */
const MAINTENANCE_KEYS = optionKeys<MaintenanceOptions>({
  olderThanMs: true,
  intervalMs: true,
  statuses: true,
  batchSize: true,
  onProgress: true,
  retention: true,
  onRun: true,
  onError: true,
  signal: true,
});

export function startMaintenance(
  prune: (options: PruneOptions) => Promise<PruneResult>,
  options: MaintenanceOptions,
  warn: (error: unknown) => void,
  onStopped: () => void = () => {},
): Maintenance {
  if (typeof options === "object" && options !== null) refuseUnknownKeys(options, MAINTENANCE_KEYS);
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
  const tasks = [...(options.retention ?? [])];
  for (const task of tasks) {
    if (typeof task?.name !== "string" || typeof task.run !== "function") {
      throw new ValidationError("each maintenance task must have a name and a run(signal) function", {
        field: "tasks",
      });
    }
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

  const report = (error: unknown) => {
    try {
      onError(error);
    } catch (thrown) {
      warn(thrown); // a run never rejects, so the next one is always scheduled
    }
  };
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
      const done: Record<string, unknown> = {};
      for (const task of tasks) {
        if (stopping.signal.aborted) break;
        try {
          done[task.name] = await task.run(stopping.signal);
        } catch (error) {
          report(error);
        }
      }
      options.onRun?.({ ...result, finishedBefore, retention: done });
    } catch (error) {
      report(error);
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
      onStopped();
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
