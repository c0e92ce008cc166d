/**
 * The worker's runs: prefetched jobs start in buffer order while fewer than `concurrency` handlers run,
 * and each run's end is recorded: a completion goes to the batch completer, a snooze or a failure out
 * on its own (see run-ends.ts), and a transactional handler's outcome inside its own transaction.
 */

import { LeaseLostError } from "../core/errors.js";
import type { Telemetry } from "../core/telemetry.js";
import type { Jobs, LeasedJob } from "../queue/index.js";
import type { Completer } from "./completer.js";
import { Held } from "./held.js";
import type { Prefetch } from "./prefetch.js";
import { ownLeaseLost, type RunEnds, snoozeUntil } from "./run-ends.js";
import type { WorkerSettings } from "./settings.js";
import type { StartMarks } from "./start-marks.js";
import type { Buffered, WorkerState } from "./state.js";
import type { InTransaction, JobsScope, WorkerOptions } from "./types.js";

export interface RunsOf<Tx extends JobsScope> {
  jobs: Jobs;
  options: Pick<WorkerOptions<Tx>, "handler" | "transactional">;
  inTransaction: InTransaction<Tx>;
  settings: Pick<WorkerSettings, "concurrency" | "leaseMs" | "reserveMs" | "startMarginMs" | "keepCompleted">;
  /** The store has one connection (PGlite), which a transactional handler holds (see Held). */
  singleConnection: boolean;
  state: WorkerState<Tx>;
  marks: StartMarks;
  prefetch: Prefetch;
  completer: Completer;
  ends: RunEnds;
  /** The store's OpenTelemetry: each handler's run is a "process" span. */
  telemetry: Telemetry | undefined;
  /** Claims more jobs for the room the started ones left. */
  fill(): void;
  /**
   * A grouped job's run has ended and is recorded (failed, snoozed, or completed in its transaction):
   * its group may take another job now, though the worker found the queue drained.
   */
  groupSlotFreed(): void;
}

export class Runs<Tx extends JobsScope> {
  /** A start of buffered jobs is due at the turn's end (see refill). */
  private refillDue = false;

  constructor(private readonly of: RunsOf<Tx>) {}

  /** Starts buffered jobs while handlers are free, then claims for the room left. */
  startMore(): void {
    const { jobs, settings, state, marks } = this.of;
    const taken: Buffered[] = [];
    const lapsed: LeasedJob[] = [];
    const now = Date.now();
    while (!state.stopping && state.running.size < settings.concurrency && state.buffered.length) {
      const next = state.buffered[0] as Buffered;
      if (next.reservedUntil - now < settings.startMarginMs) {
        state.buffered.shift();
        lapsed.push(next.job);
        state.holding.delete(next.job.id);
        continue;
      }
      // Since the worker saw its connection fail, nothing confirmed this reservation: the job waits
      // (and those behind it, which start in claim order), for a heartbeat that does, or to lapse.
      if (!state.link.holds(next.confirmedIn)) break;
      state.buffered.shift();
      const held = new Held<Tx>(next.job, jobs, settings.leaseMs, this.of.singleConnection);
      // Waited since due, by the database's clock: the claim's now() (the job's updatedAt) less runAt,
      // plus this process's time since it sent the claim.
      const sentAt = next.reservedUntil - settings.reserveMs;
      held.waitedMs = next.job.updatedAt.getTime() - next.job.runAt.getTime() + (now - sentAt);
      state.running.set(next.job.id, held);
      // This run is an attempt: counted in the database from its start mark, and here for the handler.
      // Its start counts in the queue's totals with that mark too (should it be put back below, unrun,
      // the mark made it an attempt all the same).
      next.job.attempts++;
      state.totals.started(held.waitedMs);
      taken.push(next);
    }
    const last = taken.at(-1);
    if (last) {
      const { job, batch, runAtUs } = last;
      marks.started({ batch, priority: job.priority, runAtUs, id: job.id });
      this.runOnceMarked(taken);
    }
    // Handed back, not started: a job another worker took meanwhile is its own (LeaseLostError). Not
    // while the database cannot be reached: their reservations lapse all the same.
    if (lapsed.length && state.link.up) {
      state.chore(jobs.release(lapsed)).catch((error: unknown) => {
        if (!(error instanceof LeaseLostError)) state.onError(error);
      });
    }
    this.of.fill();
  }

  /**
   * Runs the handlers of the jobs `taken` from the buffer once their start mark is on its way. A
   * connection failure seen in between puts them back at the head of the buffer, unstarted, to wait
   * like the others (see Link); should their mark have landed, a claim that takes one back after it
   * lapsed counts an attempt it did not run.
   */
  private runOnceMarked(taken: Buffered[]): void {
    const { state, prefetch } = this.of;
    const losses = state.link.losses;
    setImmediate(() => {
      if (state.link.losses !== losses && !state.stopping) {
        for (const entry of taken) {
          state.running.delete(entry.job.id);
          entry.job.attempts--;
        }
        state.buffered.unshift(...taken);
        return;
      }
      prefetch.started(taken.length);
      for (const { job } of taken) {
        const held = state.running.get(job.id);
        if (!held) continue;
        void this.run(held);
      }
    });
  }

  /** Runs one handler and records how its run ended. */
  private async run(held: Held<Tx>): Promise<void> {
    const { jobs, options, inTransaction, settings, state, completer, ends, telemetry } = this.of;
    const { job } = held;
    // The lease token a transactional handler's completion or snooze went out under.
    let sent: string | undefined;
    // A completion sent to the batch completer frees its group's slot once it lands (see worker.ts).
    let toCompleter = false;
    try {
      if (options.transactional) {
        // The run in its "process" span, with the transaction and the completion in it, since they
        // commit with what the handler wrote.
        const transaction = () =>
          inTransaction(async (tx: Tx) => {
            held.tx = tx;
            const until = snoozeUntil(await options.handler(job, held));
            // Abandoned by stop(), which handed the job back: what the handler wrote rolls back.
            if (held.abandoned) throw new Error("worker stopped");
            sent = job.leaseToken;
            if (until) await tx.jobs.snooze(job, until);
            else await tx.jobs.complete(job, { keepCompleted: settings.keepCompleted });
            return until !== undefined;
          });
        const snoozed = await (telemetry
          ? telemetry.process(job, held.waitedMs, transaction)
          : transaction());
        if (!snoozed) state.counts.completed++;
        await ends.handBackIfRetaken(job, sent as string);
        state.holding.delete(job.id);
      } else {
        const until = snoozeUntil(
          await (telemetry
            ? telemetry.process(job, held.waitedMs, async () => options.handler(job, held))
            : options.handler(job, held)),
        );
        if (held.abandoned) return;
        if (until) {
          await ends.underLease(job, () => jobs.snooze(job, until));
          state.holding.delete(job.id);
        } else {
          completer.add(job);
          toCompleter = true;
        }
      }
    } catch (error) {
      if (held.abandoned) return;
      if (ownLeaseLost(error, job) && !(sent !== undefined && (await ends.retaken(job, sent)))) {
        state.holding.delete(job.id);
        // Nothing to record: the job is in other hands (or cancelled).
        state.onError(error);
      } else {
        state.counts.failed++;
        await ends.fail(job, error);
      }
    } finally {
      state.running.delete(job.id);
      if (job.group !== null && !toCompleter) this.of.groupSlotFreed();
      this.refill();
    }
  }

  /**
   * Starts jobs in the room a run's end left. On PGlite a statement runs to its end before the next
   * turn of the event loop, so nothing is ever on its way for others to gather behind: started as each
   * run ended, every job had a start mark and a completion of its own, and the handlers ran one at a
   * time. On one connection the room the runs of a turn left is filled once, at the turn's end, under
   * one mark (their completions gather by turn too: see Completer); where that connection is a socket
   * (an embedded store shared by another process) it costs a turn.
   */
  private refill(): void {
    if (!this.of.singleConnection) {
      this.startMore();
      return;
    }
    if (this.refillDue) return;
    this.refillDue = true;
    setImmediate(() => {
      this.refillDue = false;
      this.startMore();
    });
  }
}
