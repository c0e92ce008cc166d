/**
 * A job worker: claims jobs in batches (prefetching, see prefetch.ts and claim-loop.ts), runs up to
 * `concurrency` handlers (runs.ts), completes finished jobs in batches (one statement for many,
 * completer.ts), heartbeats the leases it holds (lease-upkeep.ts), and sleeps until a NOTIFY (or, as a
 * fallback, the poll interval) says there is work (wake-ups.ts). This file puts those parts together.
 */

import type { StoreContext } from "../core/context.js";
import { OutageReporter } from "../core/outage.js";
import { type Jobs, QueueVacuum } from "../queue/index.js";
import { ClaimLoop } from "./claim-loop.js";
import { Completer } from "./completer.js";
import { FailureWarnings } from "./failure-warnings.js";
import { LeaseUpkeep } from "./lease-upkeep.js";
import { Prefetch } from "./prefetch.js";
import { RunEnds } from "./run-ends.js";
import { Runs } from "./runs.js";
import { workerSettings } from "./settings.js";
import { StartMarks } from "./start-marks.js";
import { WorkerState } from "./state.js";
import { stopWorker } from "./stop.js";
import { WorkerTotals } from "./totals.js";
import type { InTransaction, JobsScope, Worker, WorkerOptions } from "./types.js";
import { WakeUps } from "./wake-ups.js";

export function startWorker<Tx extends JobsScope>(
  jobs: Jobs,
  context: StoreContext,
  inTransaction: InTransaction<Tx>,
  options: WorkerOptions<Tx>,
): Worker {
  const settings = workerSettings(options, context);
  const singleConnection = !context.driver.capabilities.multipleConnections;
  // While the database cannot be reached, the same error would come at every poll: reported with backoff.
  const outage = new OutageReporter(context.logger, "flowstore worker", options.onError);
  const reached = () => outage.ok();
  const state = new WorkerState<Tx>(outage.error);
  const { holding, onError } = state;
  state.totals = new WorkerTotals(context, settings.queue, (write) => state.chore(write), onError);
  const prefetch = new Prefetch(settings);
  const marks = new StartMarks(context, settings.leaseMs, state.totals, onError);
  // VACUUM cannot run in a transaction, which on one connection a transactional handler may hold open.
  const vacuum = new QueueVacuum(
    context,
    options.transactional && singleConnection ? 0 : settings.vacuumAfterJobs,
    onError,
  );
  // Considered whenever the worker may have run out of work, and at each poll. Idle only once its
  // completions have landed too: a vacuum before then leaves their rows, which are not dead yet. Not
  // once stopping: the store may close as soon as stop() resolves.
  const considerVacuum = () => {
    if (state.stopping) return;
    vacuum.consider(
      state.counts.completed + state.counts.failed,
      claims.idle && state.running.size === 0 && state.buffered.length === 0 && !completer.busy,
    );
  };
  const landed = () => claims.landed();
  const completer = new Completer(
    jobs,
    settings.keepCompleted,
    settings.queue,
    () => prefetch.secondFlushMin,
    {
      settled(completed, lost, unrecorded) {
        state.counts.completed += completed.length;
        for (const job of completed) holding.delete(job.id);
        // A completed job of a group frees a place in it: the group may have jobs held back by its limit.
        if (completed.some((job) => job.group !== null)) claims.wakeUp();
        for (const job of lost) holding.delete(job.id);
        for (const job of unrecorded) {
          holding.delete(job.id);
          marks.letGo(job.id);
        }
        // Once this batch has ended: until then the completer counts it in flight.
        setImmediate(considerVacuum);
      },
      error: onError,
      claimsLanded: landed,
    },
    settings.leaseMs,
    singleConnection,
  );
  const warnings = new FailureWarnings(context.logger, settings.queue);
  const ends = new RunEnds({ jobs, marks, holding, landed, onError, warnings });
  // Each starts the other: a landed claim starts jobs, and started jobs leave room to claim.
  const runs: Runs<Tx> = new Runs({
    jobs,
    options,
    inTransaction,
    settings,
    singleConnection,
    state,
    marks,
    prefetch,
    completer,
    ends,
    telemetry: context.telemetry,
    fill: () => claims.fill(),
    groupSlotFreed: () => claims.wakeUp(),
  });
  const claims: ClaimLoop<Tx> = new ClaimLoop({
    context,
    settings,
    state,
    jobs,
    prefetch,
    marks,
    reached,
    landed: () => runs.startMore(),
  });
  const wakeUp = () => claims.wakeUp();
  const wakeUps = new WakeUps({ context, settings, state, marks, wakeUp, reached, considerVacuum });
  wakeUps.startPolling();
  const upkeep = new LeaseUpkeep({ context, settings, state, claims, confirmed: () => runs.startMore() });
  upkeep.start();
  // Back after an outage: the prefetched jobs start once a heartbeat confirms their reservations.
  state.link.back = () => {
    if (!state.stopping) upkeep.beat();
  };
  wakeUps.listen();

  // Claim at once; and again once LISTEN is in place, in case a job came between the two.
  if (!options.signal?.aborted) {
    wakeUps.promote();
    wakeUp();
  }
  void wakeUps.listening.then(wakeUp);

  // Removed once stopping: a listener left on a long-lived signal would keep the stopped worker alive.
  const onAbort = () => void stopAndSettle();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    options.signal?.removeEventListener("abort", onAbort);
    stopped ??= stopWorker({
      settings,
      connectionHeldByHandlers: options.transactional === true && singleConnection,
      jobs,
      state,
      claims,
      completer,
      marks,
      upkeep,
      wakeUps,
    }).finally(() => warnings.tellUntold());
    return stopped;
  };

  let resolveStopped!: () => void;
  const stoppedPromise = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });
  const stopAndSettle = () => stop().then(resolveStopped);
  if (options.signal?.aborted) void stopAndSettle();
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  return { id: settings.id, counts: state.counts, stopped: stoppedPromise, stop: stopAndSettle };
}
