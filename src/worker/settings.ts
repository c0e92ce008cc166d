/**
 * A worker's options, checked before anything starts: each is sent with every claim or heartbeat, or
 * sets a timer, and a bad one would fail there again and again, or make the timer fire at once. Also
 * what follows from them: the reservation of prefetched jobs and the bounds of the prefetch.
 */

import { hostname } from "node:os";
import type { StoreContext } from "../core/context.js";
import { ValidationError } from "../core/errors.js";
import { checkInteger, integerOption, MAX_INT, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { checkText } from "../core/payload.js";
import type { JobsScope, WorkerOptions } from "./types.js";

/** The longest lease a prefetched job is reserved for (shorter when leaseMs is). */
const RESERVE_MS = 5_000;

/** How many jobs a worker holds ahead at most by default, when claims keep coming back full. */
const PREFETCH_MAX = 1_000;

/** Jobs a worker finishes between two vacuums of the jobs table, by default (see vacuum.ts). */
const VACUUM_AFTER_JOBS = 1_000;

const WORKER_KEYS = optionKeys<WorkerOptions<JobsScope>>({
  queue: true,
  handler: true,
  concurrency: true,
  batchSize: true,
  claimConcurrency: true,
  leaseMs: true,
  pollIntervalMs: true,
  keepCompleted: true,
  vacuumAfterJobs: true,
  transactional: true,
  signal: true,
  workerId: true,
  stopTimeoutMs: true,
  onError: true,
});

export interface WorkerSettings {
  queue: string;
  /** The worker's id: its workerId, or one made of the host, the process and a random part. */
  id: string;
  concurrency: number;
  leaseMs: number;
  /** The lease of a prefetched job (see workerSettings). */
  reserveMs: number;
  /** A prefetched job starts only while its reservation has this long left (see workerSettings). */
  startMarginMs: number;
  pollIntervalMs: number;
  stopTimeoutMs: number;
  claimConcurrency: number;
  /** The least and the most jobs held ahead, running ones included. */
  minBatch: number;
  maxBatch: number;
  vacuumAfterJobs: number;
  keepCompleted: boolean;
}

export function workerSettings<Tx extends JobsScope>(
  options: WorkerOptions<Tx>,
  context: StoreContext,
): WorkerSettings {
  refuseUnknownKeys(options, WORKER_KEYS);
  if (typeof options.handler !== "function")
    throw new ValidationError("handler must be a function", { field: "handler" });
  const queue = checkText(options.queue, "queue");
  const workerId = options.workerId === undefined ? undefined : checkText(options.workerId, "workerId");
  const concurrency = integerOption(options.concurrency, "concurrency", { min: 1, fallback: 8 });
  const leaseMs = integerOption(options.leaseMs, "leaseMs", { min: 1, fallback: 30_000 });
  // Prefetched jobs are reserved: no attempt counted, and a lease short enough that a worker that dies
  // with a full buffer holds those jobs up for seconds, not a whole lease (heartbeats renew it).
  const reserveMs = Math.min(leaseMs, RESERVE_MS);
  const pollIntervalMs = integerOption(options.pollIntervalMs, "pollIntervalMs", { min: 1, fallback: 1_000 });
  const stopTimeoutMs = integerOption(options.stopTimeoutMs, "stopTimeoutMs", { min: 0, fallback: 30_000 });
  const claimConcurrency = integerOption(options.claimConcurrency, "claimConcurrency", {
    min: 1,
    fallback: 2,
  });
  const fixedBatchSize =
    options.batchSize === undefined ? undefined : checkInteger(options.batchSize, "batchSize", 1, MAX_INT);
  // Jobs held ahead, running ones included: batchSize if given; by default it grows while claims come
  // back full (a backlog) up to PREFETCH_MAX, and falls back as the queue drains.
  const minBatch = Math.max(fixedBatchSize ?? concurrency * 4, concurrency);
  const maxBatch = fixedBatchSize === undefined ? Math.max(minBatch, PREFETCH_MAX) : minBatch;
  const vacuumAfterJobs = options.vacuumAfterJobs ?? VACUUM_AFTER_JOBS;
  if (!Number.isInteger(vacuumAfterJobs) || vacuumAfterJobs < 0) {
    throw new ValidationError("vacuumAfterJobs must be a whole number of jobs (0: never vacuum)", {
      field: "vacuumAfterJobs",
    });
  }
  // Each transactional handler holds a pooled connection for as long as it runs; the worker's claims,
  // heartbeats and completions need one more, or leases expire while they wait for a connection. (With
  // one connection, PGlite, a transactional handler's worker traffic goes through its transaction.)
  const { driver } = context;
  if (
    options.transactional &&
    driver.capabilities.multipleConnections &&
    concurrency >= driver.maxConnections
  ) {
    throw new ValidationError(
      `concurrency ${concurrency} with transactional handlers needs a pool of more than ${concurrency} connections (pool.max is ${driver.maxConnections}): each handler holds one for its transaction and the worker needs another for its claims, heartbeats and completions; raise pool.max or lower concurrency`,
      { field: "concurrency" },
    );
  }
  return {
    queue,
    id: workerId ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`,
    concurrency,
    leaseMs,
    reserveMs,
    // Time for a start mark to land: after a handler held the event loop longer than that, the job may
    // be in another worker's hands.
    startMarginMs: Math.floor(reserveMs / 5),
    pollIntervalMs,
    stopTimeoutMs,
    claimConcurrency,
    minBatch,
    maxBatch,
    vacuumAfterJobs,
    keepCompleted: options.keepCompleted === true,
  };
}
