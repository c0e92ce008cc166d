/**
 * How a worker stops: no more claims; prefetched jobs go back at once; running handlers get until the
 * stop timeout, then their jobs go back too; finished jobs are completed; and nothing the worker sent
 * is left unanswered, since the store may close as soon as stop() resolves.
 */

import type { Jobs } from "../queue/index.js";
import type { ClaimLoop } from "./claim-loop.js";
import type { Completer } from "./completer.js";
import type { LeaseUpkeep } from "./lease-upkeep.js";
import type { WorkerSettings } from "./settings.js";
import type { StartMarks } from "./start-marks.js";
import type { WorkerState } from "./state.js";
import type { JobsScope } from "./types.js";
import type { WakeUps } from "./wake-ups.js";

export interface StoppingWorker<Tx extends JobsScope> {
  settings: Pick<WorkerSettings, "stopTimeoutMs" | "reserveMs">;
  /**
   * On one connection (PGlite) a running transactional handler holds the connection, so any query
   * stop() sends waits for the handler: there stop() sends what it must and does not wait for the
   * answers.
   */
  connectionHeldByHandlers: boolean;
  jobs: Jobs;
  state: WorkerState<Tx>;
  claims: ClaimLoop<Tx>;
  completer: Completer;
  marks: StartMarks;
  upkeep: LeaseUpkeep<Tx>;
  wakeUps: WakeUps<Tx>;
}

export async function stopWorker<Tx extends JobsScope>(worker: StoppingWorker<Tx>): Promise<void> {
  const { settings, jobs, state, claims, completer, marks, upkeep, wakeUps } = worker;
  const { holding, buffered, running, onError } = state;
  // Not waited for when handlers hold the connection, but caught all the same: a failure left
  // unhandled would bring the process down.
  const settle = (work: Promise<unknown>): Promise<unknown> => {
    const caught = work.catch(onError);
    return worker.connectionHeldByHandlers ? Promise.resolve() : caught;
  };
  state.stopping = true;
  wakeUps.stopPolling();
  const deadline = Date.now() + settings.stopTimeoutMs;
  let deadlineTimer: NodeJS.Timeout | undefined;
  const untilDeadline = new Promise((resolve) => {
    deadlineTimer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
  });
  await wakeUps.listening;
  await Promise.race([Promise.all([...claims.inFlight]), untilDeadline]);
  // Left running, it would keep the process alive until the deadline.
  clearTimeout(deadlineTimer);
  claims.abandon();
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
  await settle(state.totals.stop());
  // The claims stop() gave up waiting for hand their jobs back as they land; once stop() resolves
  // the store may be closed, and jobs handed back after that would stay reserved for their lease.
  // Not past that lease, though: a claim that never lands (a server gone silent) must not hold
  // stop() up for ever, and its jobs are free again by then anyway.
  let reservationTimer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    settle(claims.landed()),
    new Promise((resolve) => {
      reservationTimer = setTimeout(resolve, settings.reserveMs);
    }),
  ]);
  clearTimeout(reservationTimer);
  // With every job handed back or finished the start marks are of no more use; a job whose
  // completion or failure did not land may still be taken back by another worker, which then
  // reads them.
  const done = holding.size === 0 && marks.letGoIds.length === 0;
  await settle(done ? marks.forget() : marks.flushAll());
  upkeep.stop();
  await settle(state.choresSettled());
  await settle(wakeUps.stopListening());
}
