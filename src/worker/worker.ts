/**
 * A job worker: claims jobs in batches (prefetching up to `batchSize`), runs up to `concurrency`
 * handlers, completes finished jobs in batches (one statement for many), heartbeats the leases it holds,
 * and sleeps until a NOTIFY (or, as a fallback, the poll interval) says there is work.
 */

import type { StoreContext } from "../core/context.js";
import { LeaseLostError } from "../core/errors.js";
import { OutageReporter } from "../core/outage.js";
import { jobsChannel, wakesQueue } from "../core/wake.js";
import { leaseLost } from "../queue/checks.js";
import type { Jobs } from "../queue/jobs.js";
import { claimRows, extendLeases, promoteDue } from "../queue/leases.js";
import { type ClaimedRow, toLeasedJob } from "../queue/sql.js";
import type { LeasedJob } from "../queue/types.js";
import { QueueVacuum } from "../queue/vacuum.js";
import { Completer } from "./completer.js";
import { Held } from "./held.js";
import { ownLeaseLost, RunEnds, snoozeUntil } from "./run-ends.js";
import { workerSettings } from "./settings.js";
import { forgetIdleWorkers, StartMarks } from "./start-marks.js";
import { StartRate } from "./start-rate.js";
import type { InTransaction, Worker, WorkerOptions } from "./types.js";

/** By default a worker holds no more jobs than its handlers start in this time (see worker/start-rate.ts). */
const PREFETCH_HORIZON_MS = 250;

/** How often a worker clears the start marks of workers that are gone (see forgetIdleWorkers). */
const FORGET_IDLE_MS = 5 * 60_000;

/** A prefetched job, and the claim (batch) it came in: jobs start in claim order (see worker/start-marks.ts). */
interface Buffered {
  job: LeasedJob;
  batch: number;
  runAtUs: string;
  /** This process's time until which the reservation surely holds: when the claim or heartbeat was sent, plus its lease. */
  reservedUntil: number;
}

export function startWorker(
  jobs: Jobs,
  context: StoreContext,
  inTransaction: InTransaction,
  options: WorkerOptions,
): Worker {
  const {
    queue,
    id,
    concurrency,
    leaseMs,
    reserveMs,
    startMarginMs,
    pollIntervalMs,
    stopTimeoutMs,
    claimConcurrency,
    minBatch,
    maxBatch,
    vacuumAfterJobs,
    keepCompleted,
  } = workerSettings(options, context);
  // While the database cannot be reached, the same error would come at every poll: reported with backoff.
  const outage = new OutageReporter(context.logger, "flowstore worker", options.onError);
  const onError = outage.error;
  let batchSize = minBatch;
  let claimSize = Math.max(1, Math.floor(batchSize / claimConcurrency));
  const resize = (size: number) => {
    // Whole jobs: a claim's limit is the room left, and a limit of 62.5 jobs is refused.
    batchSize = Math.min(maxBatch, Math.max(minBatch, Math.floor(size)));
    claimSize = Math.max(1, Math.floor(batchSize / claimConcurrency));
  };

  const buffered: Buffered[] = [];
  const running = new Map<string, Held>();
  const counts = { completed: 0, failed: 0 };
  let stopping = false;
  // Set when a claim came back short (the queue is drained); cleared by a notification or the poll.
  let drained = false;
  const claimsInFlight = new Set<Promise<void>>();
  const landed = () => Promise.allSettled([...claimsInFlight]);
  // Statements sent on the worker's own schedule (heartbeats, promotions, hand-backs), which stop()
  // waits for: once it resolves the store may close, and one sent after that would fail.
  const chores = new Set<Promise<unknown>>();
  const chore = <T>(work: Promise<T>): Promise<T> => {
    chores.add(work);
    const done = () => chores.delete(work);
    work.then(done, done);
    return work;
  };
  let requested = 0;
  // Counts wake-ups, so a claim that started before one cannot mark the queue drained after it.
  let wakes = 0;

  // Every job this worker holds a lease on, prefetched, running or being completed, by id: a claim
  // that brings one back (its lease ran out while a long transaction held the only connection) renews
  // the lease under the new token instead of starting the job a second time.
  const holding = new Map<string, LeasedJob>();
  const startRate = new StartRate();
  const marks = new StartMarks(context, leaseMs, onError);
  // VACUUM cannot run in a transaction, which on one connection a transactional handler may hold open.
  const vacuum = new QueueVacuum(
    context,
    options.transactional && !context.driver.capabilities.multipleConnections ? 0 : vacuumAfterJobs,
    onError,
  );
  // Considered whenever the worker may have run out of work, and at each poll.
  const considerVacuum = () =>
    vacuum.consider(
      counts.completed + counts.failed,
      drained && running.size === 0 && buffered.length === 0 && requested === 0,
    );
  // Claims are numbered, and their jobs join the buffer in that order even when a later claim lands
  // first: the start marks count on jobs starting claim by claim.
  let batches = 0;
  let previousLanding: Promise<unknown> = Promise.resolve();
  const completer = new Completer(
    jobs,
    keepCompleted,
    () => Math.max(concurrency, Math.floor(claimSize / 4)),
    {
      settled(completed, lost, unrecorded) {
        counts.completed += completed.length;
        for (const job of completed) holding.delete(job.id);
        for (const job of lost) holding.delete(job.id);
        for (const job of unrecorded) {
          holding.delete(job.id);
          marks.letGo(job.id);
        }
        considerVacuum();
      },
      error: onError,
      claimsLanded: landed,
    },
  );

  const ends = new RunEnds({ jobs, marks, holding, landed, onError });

  const runJob = async (held: Held) => {
    const { job } = held;
    // The lease token a transactional handler's completion or snooze went out under.
    let sent: string | undefined;
    try {
      if (options.transactional) {
        const snoozed = await inTransaction(async (tx) => {
          held.tx = tx;
          const until = snoozeUntil(await options.handler(job, held));
          // Abandoned by stop(), which handed the job back: what the handler wrote rolls back.
          if (held.abandoned) throw new Error("worker stopped");
          sent = job.leaseToken;
          if (until) await tx.jobs.snooze(job, until);
          else await tx.jobs.complete(job, { keepCompleted });
          return until !== undefined;
        });
        if (!snoozed) counts.completed++;
        await ends.handBackIfRetaken(job, sent as string);
        holding.delete(job.id);
      } else {
        const until = snoozeUntil(await options.handler(job, held));
        if (held.abandoned) return;
        if (until) {
          await ends.underLease(job, () => jobs.snooze(job, until));
          holding.delete(job.id);
        } else {
          completer.add(job);
        }
      }
    } catch (error) {
      if (held.abandoned) return;
      if (ownLeaseLost(error, job) && !(sent !== undefined && (await ends.retaken(job, sent)))) {
        holding.delete(job.id);
        // Nothing to record: the job is in other hands (or cancelled).
        onError(error);
      } else {
        counts.failed++;
        await ends.fail(job, error);
      }
    } finally {
      running.delete(job.id);
      startMore();
    }
  };

  const startMore = () => {
    const starting: Held[] = [];
    const lapsed: LeasedJob[] = [];
    let last: Buffered | undefined;
    const now = Date.now();
    while (!stopping && running.size < concurrency && buffered.length) {
      const next = buffered.shift() as Buffered;
      if (next.reservedUntil - now < startMarginMs) {
        lapsed.push(next.job);
        holding.delete(next.job.id);
        continue;
      }
      last = next;
      const { job } = last;
      const held = new Held(job, jobs, leaseMs, !context.driver.capabilities.multipleConnections);
      running.set(job.id, held);
      // This run is an attempt: counted in the database from its start mark, and here for the handler.
      job.attempts++;
      starting.push(held);
    }
    if (last) {
      const { job, batch, runAtUs } = last;
      marks.started({ batch, priority: job.priority, runAtUs, id: job.id });
      startRate.add(starting.length);
    }
    // The handlers start once the start mark is on its way.
    if (starting.length) setImmediate(() => starting.forEach(runJob));
    // Handed back, not started: a job another worker took meanwhile is its own (LeaseLostError).
    if (lapsed.length) {
      chore(jobs.release(lapsed)).catch((error: unknown) => {
        if (!(error instanceof LeaseLostError)) onError(error);
      });
    }
    fill();
  };

  // Claims start small and grow fourfold up to claimSize: woken to a backlog, the first jobs start after
  // a short claim instead of waiting for a full one (a claim of 1,000 takes tens of milliseconds).
  const firstClaimSize = Math.min(claimSize, concurrency * 2);
  let nextClaimSize = firstClaimSize;

  // Keeps up to claimConcurrency claims in flight. A claim goes out once a quarter of the prefetch is
  // free, not a whole claim's worth: waiting for that, the buffer ran dry while the claim was on its way.
  const fill = () => {
    while (!stopping && !drained && claimsInFlight.size < claimConcurrency) {
      const room = batchSize - buffered.length - running.size - requested;
      const limit = Math.min(room, nextClaimSize);
      const enough = Math.min(nextClaimSize, Math.max(1, Math.floor(batchSize / 4)));
      if (limit < 1 || (limit < enough && buffered.length > 0)) return;
      nextClaimSize = Math.min(claimSize, nextClaimSize * 4);
      requested += limit;
      const wakesAtStart = wakes;
      const reservation = { worker: marks.worker, batch: ++batches, letGo: marks.letGoIds };
      const before = previousLanding;
      const reservedUntil = Date.now() + reserveMs;
      const claim = claimRows(
        context,
        { queue, workerId: id, limit, leaseMs: reserveMs },
        { promote: false, reservation },
      )
        .then(async (rows) => {
          outage.ok();
          await before;
          const batch = rows.map((row) => toLeasedJob(row, queue, id, reserveMs));
          if (batch.length < limit && wakes === wakesAtStart) {
            drained = true;
            nextClaimSize = firstClaimSize;
            resize(batchSize / 2);
          } else if (batch.length === limit && limit >= enough) {
            // A backlog: a claim of at least a quarter of the prefetch came back full. The prefetch
            // doubles, but holds no more than the handlers start in PREFETCH_HORIZON_MS (nothing more
            // while that is not measured yet). (Counting only claims of a whole claimSize, it never
            // grew with one claim in flight, or on PGlite: the running jobs always took some room.)
            resize(Math.min(batchSize * 2, startRate.jobsIn(PREFETCH_HORIZON_MS) ?? minBatch));
          }
          marks.takenBack(batch, reservation.letGo);
          // A claim that lands after stop() gave up waiting for it: hand its jobs straight back (they
          // never started, so no attempt counts). The claim is done only then: stop() waits for it.
          if (stopping && claimsSettled) {
            const fresh = batch.filter((job) => !holding.has(job.id));
            if (fresh.length) await jobs.release(fresh).catch(onError);
            return;
          }
          batch.forEach((job, i) => {
            const mine = holding.get(job.id);
            if (mine) {
              mine.leaseToken = job.leaseToken;
              mine.leaseExpiresAt = job.leaseExpiresAt;
              const entry = buffered.find((waiting) => waiting.job === mine);
              if (entry) entry.reservedUntil = Math.max(entry.reservedUntil, reservedUntil);
              return;
            }
            holding.set(job.id, job);
            const runAtUs = (rows[i] as ClaimedRow).run_at_us;
            buffered.push({ job, batch: reservation.batch, runAtUs, reservedUntil });
          });
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
      previousLanding = claim;
    }
  };

  const wakeUp = () => {
    wakes++;
    drained = false;
    fill();
  };
  // Jobs scheduled for later join the ready set when due: this worker moves its queue's due jobs there
  // as it starts and at each poll (claims skip that statement), and wakes itself if it moved any.
  let promoting = false;
  const promote = () => {
    if (promoting || stopping) return;
    promoting = true;
    chore(promoteDue(context, queue))
      .then((moved) => {
        outage.ok();
        if (moved > 0) wakeUp();
      })
      .catch(onError)
      .finally(() => {
        promoting = false;
      });
  };
  // Clears the start marks of workers that are gone, now and then (one worker doing it is enough, but
  // which one is alive is not known).
  let forgotAt = 0;
  const forgetIdle = () => {
    if (Date.now() - forgotAt < FORGET_IDLE_MS) return;
    forgotAt = Date.now();
    chore(forgetIdleWorkers(context)).catch(onError);
    chore(marks.forgetTakenBack()).catch(onError);
  };
  // Not unref'd: a running worker keeps its process alive, as a listening server does, until it is
  // stopped (or its store closed); jobs may come at any time.
  const poll = setInterval(() => {
    considerVacuum();
    promote();
    wakeUp();
    forgetIdle();
  }, pollIntervalMs);

  // Keeps every held lease alive: running jobs' by leaseMs, prefetched ones' by the shorter reservation,
  // often enough for the shorter of the two. `extended` learns the ids (in lower case) it extended.
  const heartbeat = (
    held: LeasedJob[],
    extendMs: number,
    extended: (ids: ReadonlySet<string>) => void = () => {},
  ) => {
    if (held.length === 0) return;
    const sent = new Map(held.map((job) => [job.id, job.leaseToken]));
    chore(extendLeases(context, held, { extendMs }))
      .then((result) => {
        extended(result.extended);
        if (result.lost.length) throw leaseLost(result.lost, "heartbeat");
      })
      .catch((error: unknown) => {
        if (!(error instanceof LeaseLostError)) return onError(error);
        const reported = (error as LeaseLostError & { lost?: string[] }).lost ?? [];
        // Lost means lost under the token this heartbeat sent, for a job still running or waiting in the
        // buffer under it. A finished job is not (its completion checks its own lease), nor one whose
        // lease the worker renewed by claiming it again; and since such a claim may still be on its way,
        // decide once the claims in flight have landed.
        const decide = () => {
          const stillHere = (lostId: string) =>
            running.has(lostId) || buffered.some((entry) => entry.job.id === lostId);
          const lost = reported.filter(
            (lostId) => stillHere(lostId) && holding.get(lostId)?.leaseToken === sent.get(lostId),
          );
          for (const lostId of lost) {
            holding.delete(lostId);
            running.get(lostId)?.abort(error);
            const at = buffered.findIndex((entry) => entry.job.id === lostId);
            if (at >= 0) buffered.splice(at, 1);
          }
          if (lost.length) {
            onError(
              Object.assign(new LeaseLostError(`lost the lease of job(s) ${lost.join(", ")}`), { lost }),
            );
          }
        };
        if (claimsInFlight.size === 0) decide();
        else void landed().then(decide);
      });
  };
  const heartbeats = setInterval(
    () => {
      heartbeat(
        [...running.values()].map((h) => h.job),
        leaseMs,
      );
      const waiting = buffered.slice();
      const until = Date.now() + reserveMs;
      heartbeat(
        waiting.map((entry) => entry.job),
        reserveMs,
        (extended) => {
          for (const entry of waiting) {
            if (extended.has(entry.job.id.toLowerCase())) {
              entry.reservedUntil = Math.max(entry.reservedUntil, until);
            }
          }
        },
      );
    },
    Math.max(10, Math.floor(reserveMs / 3)),
  );
  heartbeats.unref?.();

  const channel = jobsChannel(context.schema);
  let unlisten: (() => Promise<void>) | undefined;
  const listening = context.driver
    .listen(channel, (payload) => {
      if (wakesQueue(payload, queue)) wakeUp();
    })
    .then((fn) => {
      unlisten = fn;
    })
    .catch((error: unknown) => onError(error)); // polling still finds the work

  // Claim at once; and again once LISTEN is in place, in case a job came between the two.
  if (!options.signal?.aborted) {
    promote();
    wakeUp();
  }
  void listening.then(wakeUp);

  // On one connection (PGlite) a running transactional handler holds the connection, so any query stop()
  // sends waits for the handler: there stop() sends what it must and does not wait for the answers.
  const connectionHeldByHandlers =
    options.transactional === true && !context.driver.capabilities.multipleConnections;
  const settle = (work: Promise<unknown>): Promise<unknown> =>
    connectionHeldByHandlers ? Promise.resolve() : work.catch(onError);
  let claimsSettled = false;

  // Removed once stopping: a listener left on a long-lived signal would keep the stopped worker alive.
  const onAbort = () => void stopAndSettle();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      options.signal?.removeEventListener("abort", onAbort);
      clearInterval(poll);
      const deadline = Date.now() + stopTimeoutMs;
      let deadlineTimer: NodeJS.Timeout | undefined;
      const untilDeadline = new Promise((resolve) => {
        deadlineTimer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      });
      await listening;
      await Promise.race([Promise.all([...claimsInFlight]), untilDeadline]);
      // Left running, it would keep the process alive until the deadline.
      clearTimeout(deadlineTimer);
      claimsSettled = true;
      // Prefetched jobs that never started go back at once, not after their lease expires, with no
      // attempt counted.
      const unstarted = buffered.splice(0).map((entry) => entry.job);
      for (const job of unstarted) holding.delete(job.id);
      if (unstarted.length) await settle(jobs.release(unstarted).catch(onError));
      while (running.size && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      const abandoned = [...running.values()];
      for (const held of abandoned) held.abandon(new Error("worker stopped"));
      if (abandoned.length) {
        // They ran, so the attempt counts.
        const jobsRun = abandoned.map((h) => h.job);
        const handedBack = jobs.release(jobsRun, { countAttempt: true }).then(() => {
          for (const job of jobsRun) holding.delete(job.id);
        });
        await settle(handedBack.catch(onError));
      }
      await completer.flushAll();
      // The claims stop() gave up waiting for hand their jobs back as they land; once stop() resolves
      // the store may be closed, and jobs handed back after that would stay reserved for their lease.
      // Not past that lease, though: a claim that never lands (a server gone silent) must not hold
      // stop() up for ever, and its jobs are free again by then anyway.
      let reservationTimer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        settle(landed()),
        new Promise((resolve) => {
          reservationTimer = setTimeout(resolve, reserveMs);
        }),
      ]);
      clearTimeout(reservationTimer);
      // With every job handed back or finished the start marks are of no more use; a job whose
      // completion or failure did not land may still be taken back by another worker, which then
      // reads them.
      const done = holding.size === 0 && marks.letGoIds.length === 0;
      await settle(done ? marks.forget() : marks.flushAll());
      clearInterval(heartbeats);
      await settle(Promise.allSettled([...chores]));
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
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  return { id, counts, stopped: stoppedPromise, stop: stopAndSettle };
}
