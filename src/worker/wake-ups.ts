/**
 * What wakes a worker to claim: a NOTIFY on the jobs channel naming its queue, its own promotion of
 * due scheduled jobs, and, as a fallback, the poll, which also does the worker's periodic chores
 * (vacuum, promotion, clearing the start marks of workers that are gone).
 */

import type { StoreContext } from "../core/context.js";
import { jobsChannel, wakesQueue } from "../core/wake.js";
import { forgetIdleWorkers, promoteDue } from "../queue/index.js";
import type { WorkerSettings } from "./settings.js";
import type { StartMarks } from "./start-marks.js";
import type { WorkerState } from "./state.js";
import type { JobsScope } from "./types.js";

/** How often a worker clears the start marks of workers that are gone (see forgetIdleWorkers). */
const FORGET_IDLE_MS = 5 * 60_000;

export interface WakeUpsOf<Tx extends JobsScope> {
  context: StoreContext;
  settings: Pick<WorkerSettings, "queue" | "pollIntervalMs">;
  state: WorkerState<Tx>;
  marks: StartMarks;
  /** There may be work: claims go out again. */
  wakeUp(): void;
  /** A statement was answered: the database can be reached. */
  reached(): void;
  /** The worker may have run out of work: time, perhaps, to vacuum. */
  considerVacuum(): void;
}

export class WakeUps<Tx extends JobsScope> {
  /** Resolves once LISTEN is in place, or failed (polling still finds the work). */
  listening: Promise<void> = Promise.resolve();
  private unlisten: (() => Promise<void>) | undefined;
  private poll: ReturnType<typeof setInterval> | undefined;
  private promoting = false;
  private forgotAt = 0;

  constructor(private readonly of: WakeUpsOf<Tx>) {}

  /**
   * Polls every pollIntervalMs. Not unref'd: a running worker keeps its process alive, as a listening
   * server does, until it is stopped (or its store closed); jobs may come at any time.
   */
  startPolling(): void {
    this.poll = setInterval(() => {
      this.of.considerVacuum();
      this.promote();
      this.of.wakeUp();
      this.forgetIdle();
    }, this.of.settings.pollIntervalMs);
  }

  stopPolling(): void {
    clearInterval(this.poll);
  }

  listen(): void {
    const { context, settings, state } = this.of;
    this.listening = context.driver
      .listen(jobsChannel(context.schema), (payload) => {
        if (wakesQueue(payload, settings.queue)) this.of.wakeUp();
      })
      .then((fn) => {
        this.unlisten = fn;
      })
      .catch((error: unknown) => state.onError(error)); // polling still finds the work
  }

  /** Stops listening (when LISTEN had come in place). */
  stopListening(): Promise<void> {
    return this.unlisten?.() ?? Promise.resolve();
  }

  /**
   * Jobs scheduled for later join the ready set when due: this worker moves its queue's due jobs there
   * as it starts and at each poll (claims skip that statement), and wakes itself if it moved any.
   */
  promote(): void {
    const { context, settings, state } = this.of;
    if (this.promoting || state.stopping) return;
    this.promoting = true;
    const losses = state.link.losses;
    state
      .chore(promoteDue(context, settings.queue))
      .then((moved) => {
        this.of.reached();
        state.link.reached(losses);
        if (moved > 0) this.of.wakeUp();
      })
      .catch(state.onError)
      .finally(() => {
        this.promoting = false;
      });
  }

  /**
   * Clears the start marks of workers that are gone, now and then (one worker doing it is enough, but
   * which one is alive is not known).
   */
  private forgetIdle(): void {
    const { context, state, marks } = this.of;
    if (Date.now() - this.forgotAt < FORGET_IDLE_MS) return;
    this.forgotAt = Date.now();
    state.chore(forgetIdleWorkers(context)).catch(state.onError);
    state.chore(marks.forgetTakenBack()).catch(state.onError);
  }
}
