/**
 * A job worker: claims jobs in batches (prefetching up to `batchSize`), runs up to `concurrency`
 * handlers, completes finished jobs in batches (one statement for many), heartbeats the leases it holds,
 * and sleeps until a NOTIFY (or, as a fallback, the poll interval) says there is work.
 */

import { hostname } from "node:os";
import type { StoreContext } from "../context.js";
import { LeaseLostError, ValidationError } from "../errors.js";
import type { Transaction } from "../scope.js";
import type { Jobs } from "./jobs.js";
import type { LeasedJob } from "./types.js";
import { jobsChannel } from "./wake.js";

export interface JobContext {
  /** Aborted when the worker stops waiting for this handler (stop timeout) or the lease is lost. */
  signal: AbortSignal;
  /** Extends the lease now (the worker also does it on its own every leaseMs / 3). */
  heartbeat(): Promise<void>;
  /** With `transactional: true`: the transaction the job completes in. */
  tx?: Transaction;
}

/** Runs `fn` in a transaction of the store the worker belongs to. */
export type InTransaction = <T>(fn: (tx: Transaction) => Promise<T>) => Promise<T>;

export type JobHandler = (job: LeasedJob, context: JobContext) => Promise<void> | void;

export interface WorkerOptions {
  queue: string;
  handler: JobHandler;
  /** Handlers running at once (default 8). */
  concurrency?: number;
  /** Jobs claimed ahead, including the running ones (default: concurrency * 4). */
  batchSize?: number;
  /**
   * Claim statements in flight at once (default 2). Each claims up to batchSize / claimConcurrency
   * jobs (the first ones after a wake-up fewer, growing fourfold from concurrency * 2); more than one
   * keeps handlers fed while a claim is on its way.
   */
  claimConcurrency?: number;
  /** Lease length; renewed every leaseMs / 3 while the job is held (default 30 s). */
  leaseMs?: number;
  /** Fallback poll when no notification arrives (default 1 s). */
  pollIntervalMs?: number;
  /** Move completed jobs to jobs_history instead of deleting them. */
  keepCompleted?: boolean;
  /**
   * Run each handler in a transaction that also completes the job: the handler's writes through
   * `context.tx` commit if and only if the job completes, so they happen exactly once.
   */
  transactional?: boolean;
  /** Stops the worker when aborted. */
  signal?: AbortSignal;
  workerId?: string;
  /** How long stop() waits for running handlers before releasing their jobs (default 30 s). */
  stopTimeoutMs?: number;
  /** Called with errors the worker survives (a lost connection, a lost lease). */
  onError?: (error: unknown) => void;
}

export interface Worker {
  readonly id: string;
  /** Stops claiming, waits for running handlers (up to stopTimeoutMs), releases the rest. */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped. */
  readonly stopped: Promise<void>;
  /** Jobs this worker completed, failed (including retries) so far. */
  readonly counts: { completed: number; failed: number };
}

/**
 * A job a handler is running, and the context the handler gets. The AbortController is made only when
 * the handler reads `signal`: at tens of thousands of jobs a second, one per job is a real cost.
 */
class Held implements JobContext {
  tx?: Transaction;
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private aborted = false;

  constructor(
    readonly job: LeasedJob,
    private readonly jobs: Jobs,
    private readonly leaseMs: number,
    private readonly singleConnection: boolean,
  ) {}

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.aborted && !this.controller.signal.aborted) this.controller.abort(this.abortReason);
    return this.controller.signal;
  }

  // A property, not a method, so a handler may destructure it from its context. With one connection
  // (PGlite) a transactional handler's heartbeat must go through its own transaction, or it would wait
  // for that transaction to end.
  readonly heartbeat = (): Promise<void> =>
    (this.singleConnection && this.tx ? this.tx.jobs : this.jobs).heartbeat(this.job, {
      extendMs: this.leaseMs,
    });

  abort(reason: unknown): void {
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

export function startWorker(
  jobs: Jobs,
  context: StoreContext,
  inTransaction: InTransaction,
  options: WorkerOptions,
): Worker {
  if (typeof options.handler !== "function")
    throw new ValidationError("handler must be a function", { field: "handler" });
  const concurrency = options.concurrency ?? 8;
  const batchSize = Math.max(options.batchSize ?? concurrency * 4, concurrency);
  const leaseMs = options.leaseMs ?? 30_000;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
  const id = options.workerId ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  const onError =
    options.onError ??
    ((error: unknown) => context.logger.warn({ error: String(error) }, "flowstore worker"));
  const keepCompleted = options.keepCompleted === true;
  const claimConcurrency = Math.max(1, options.claimConcurrency ?? 2);
  const claimSize = Math.max(1, Math.floor(batchSize / claimConcurrency));
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ValidationError("concurrency must be a positive integer", { field: "concurrency" });
  }

  const buffered: LeasedJob[] = [];
  const running = new Map<string, Held>();
  const counts = { completed: 0, failed: 0 };
  let stopping = false;
  // Set when a claim came back short (the queue is drained); cleared by a notification or the poll.
  let drained = false;
  const claimsInFlight = new Set<Promise<void>>();
  let requested = 0;
  // Counts wake-ups, so a claim that started before one cannot mark the queue drained after it.
  let wakes = 0;

  // Completions batch themselves: while a flush is in flight, finished jobs gather for the next one. A
  // second flush may overlap the first only with a large batch: a statement has a fixed cost, and one
  // that completes a single job holds that slot while hundreds of finished jobs wait.
  let pending: LeasedJob[] = [];
  const flushes = new Set<Promise<void>>();
  const secondFlushMin = Math.max(concurrency, Math.floor(claimSize / 4));
  const flush = (): void => {
    if (pending.length === 0 || flushes.size >= 2) return;
    if (flushes.size === 1 && pending.length < secondFlushMin) return;
    const batch = pending;
    pending = [];
    const done: Promise<void> = jobs
      .completeMany(batch, keepCompleted)
      .then((lost) => {
        counts.completed += batch.length - lost.length;
        if (lost.length)
          onError(
            new LeaseLostError(`lost the lease of ${lost.length} completed job(s): ${lost.join(", ")}`),
          );
      })
      .catch((error: unknown) => {
        // Not completed: the leases will expire and the jobs run again (at-least-once).
        onError(error);
      })
      .finally(() => {
        flushes.delete(done);
        flush();
      });
    flushes.add(done);
  };
  const flushAll = async (): Promise<void> => {
    flush();
    while (flushes.size) await Promise.all([...flushes]);
  };

  const runJob = async (job: LeasedJob) => {
    const held = new Held(job, jobs, leaseMs, !context.driver.capabilities.multipleConnections);
    running.set(job.id, held);
    try {
      if (options.transactional) {
        await inTransaction(async (tx) => {
          held.tx = tx;
          await options.handler(job, held);
          await tx.jobs.complete(job, { keepCompleted });
        });
        counts.completed++;
      } else {
        await options.handler(job, held);
        pending.push(job);
        flush();
      }
    } catch (error) {
      if (error instanceof LeaseLostError) {
        onError(error);
      } else {
        counts.failed++;
        await jobs.fail(job, error).catch(onError);
      }
    } finally {
      running.delete(job.id);
      startMore();
    }
  };

  const startMore = () => {
    while (!stopping && running.size < concurrency && buffered.length) {
      void runJob(buffered.shift() as LeasedJob);
    }
    fill();
  };

  // Claims start small and grow fourfold up to claimSize: woken to a backlog, the first jobs start after
  // a short claim instead of waiting for a full one (a claim of 1,000 takes tens of milliseconds).
  const firstClaimSize = Math.min(claimSize, concurrency * 2);
  let nextClaimSize = firstClaimSize;

  // Keeps up to claimConcurrency claims in flight while there is room for a whole claim's worth of jobs.
  const fill = () => {
    while (!stopping && !drained && claimsInFlight.size < claimConcurrency) {
      const room = batchSize - buffered.length - running.size - requested;
      const limit = Math.min(room, nextClaimSize);
      if (limit < 1 || (limit < nextClaimSize && buffered.length > 0)) return;
      nextClaimSize = Math.min(claimSize, nextClaimSize * 4);
      requested += limit;
      const wakesAtStart = wakes;
      const claim = jobs
        .claim({ queue: options.queue, workerId: id, limit, leaseMs })
        .then((batch) => {
          if (batch.length < limit && wakes === wakesAtStart) {
            drained = true;
            nextClaimSize = firstClaimSize;
          }
          // A claim that lands after stop() gave up waiting for it: hand its jobs straight back.
          if (stopping && claimsSettled) {
            if (batch.length) void jobs.release(batch).catch(onError);
            return;
          }
          buffered.push(...batch);
        })
        .catch((error: unknown) => {
          drained = true; // try again at the next poll, not in a tight loop
          nextClaimSize = firstClaimSize;
          onError(error);
        })
        .finally(() => {
          requested -= limit;
          claimsInFlight.delete(claim);
          startMore();
        });
      claimsInFlight.add(claim);
    }
  };

  const wakeUp = () => {
    wakes++;
    drained = false;
    fill();
  };
  const poll = setInterval(wakeUp, pollIntervalMs);
  poll.unref?.();

  // Keeps every held lease (running and prefetched) alive in one statement.
  const heartbeats = setInterval(
    () => {
      const held = [...running.values()].map((h) => h.job).concat(buffered);
      if (held.length === 0) return;
      jobs.heartbeat(held, { extendMs: leaseMs }).catch((error: unknown) => {
        if (error instanceof LeaseLostError) {
          for (const lostId of (error as LeaseLostError & { lost?: string[] }).lost ?? []) {
            running.get(lostId)?.abort(error);
            const at = buffered.findIndex((job) => job.id === lostId);
            if (at >= 0) buffered.splice(at, 1);
          }
        }
        onError(error);
      });
    },
    Math.max(10, Math.floor(leaseMs / 3)),
  );
  heartbeats.unref?.();

  const channel = jobsChannel(context.schema);
  let unlisten: (() => Promise<void>) | undefined;
  const listening = context.driver
    .listen(channel, (payload) => {
      if (payload === "" || payload.split(",").includes(options.queue)) wakeUp();
    })
    .then((fn) => {
      unlisten = fn;
    })
    .catch((error: unknown) => onError(error)); // polling still finds the work

  // Claim at once; and again once LISTEN is in place, in case a job came between the two.
  if (!options.signal?.aborted) wakeUp();
  void listening.then(wakeUp);

  // On one connection (PGlite) a running transactional handler holds the connection, so any query stop()
  // sends waits for the handler: there stop() sends what it must and does not wait for the answers.
  const connectionHeldByHandlers =
    options.transactional === true && !context.driver.capabilities.multipleConnections;
  const settle = (work: Promise<unknown>): Promise<unknown> =>
    connectionHeldByHandlers ? Promise.resolve() : work.catch(onError);
  let claimsSettled = false;

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      clearInterval(poll);
      const deadline = Date.now() + stopTimeoutMs;
      const untilDeadline = () =>
        new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())));
      await listening;
      await Promise.race([Promise.all([...claimsInFlight]), untilDeadline()]);
      claimsSettled = true;
      // Prefetched jobs that never started go back at once, not after their lease expires.
      const unstarted = buffered.splice(0);
      if (unstarted.length) await settle(jobs.release(unstarted).catch(onError));
      while (running.size && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      const abandoned = [...running.values()];
      for (const held of abandoned) held.abort(new Error("worker stopped"));
      if (abandoned.length) {
        // They ran, so the attempt counts.
        const jobsRun = abandoned.map((h) => h.job);
        await settle(jobs.release(jobsRun, { countAttempt: true }).catch(onError));
      }
      await flushAll();
      clearInterval(heartbeats);
      await settle(unlisten?.() ?? Promise.resolve());
    })();
    return stopped;
  };

  let resolveStopped!: () => void;
  const stoppedPromise = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });
  const stopAndSettle = () => stop().then(resolveStopped);
  if (options.signal?.aborted) void stopAndSettle();
  else options.signal?.addEventListener("abort", () => void stopAndSettle(), { once: true });
  return { id, counts, stopped: stoppedPromise, stop: stopAndSettle };
}
