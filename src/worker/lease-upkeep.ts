/**
 * The worker's heartbeats: every lease it holds is kept alive, running jobs' by leaseMs and prefetched
 * ones' by the shorter reservation, often enough for the shorter of the two. A lease found lost takes
 * its job out of the worker (a running handler is aborted), once the claims in flight, which may have
 * renewed it, have landed.
 */

import type { StoreContext } from "../core/context.js";
import { LeaseLostError } from "../core/errors.js";
import { extendLeases, type LeasedJob, leaseLost } from "../queue/index.js";
import type { ClaimLoop } from "./claim-loop.js";
import type { WorkerSettings } from "./settings.js";
import type { WorkerState } from "./state.js";
import type { JobsScope } from "./types.js";

export interface LeaseUpkeepOf<Tx extends JobsScope> {
  context: StoreContext;
  settings: Pick<WorkerSettings, "leaseMs" | "reserveMs">;
  state: WorkerState<Tx>;
  claims: ClaimLoop<Tx>;
  /** A heartbeat extended prefetched jobs' reservations: those an outage held back may start. */
  confirmed(): void;
}

export class LeaseUpkeep<Tx extends JobsScope> {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly of: LeaseUpkeepOf<Tx>) {}

  start(): void {
    this.timer = setInterval(() => this.beat(), Math.max(10, Math.floor(this.of.settings.reserveMs / 3)));
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Extends every lease held now; after an outage, prefetched jobs wait for this to confirm them. */
  beat(): void {
    const { settings, state } = this.of;
    this.heartbeat(
      [...state.running.values()].map((h) => h.job),
      settings.leaseMs,
    );
    const waiting = state.buffered.slice();
    const until = Date.now() + settings.reserveMs;
    const losses = state.link.losses;
    this.heartbeat(
      waiting.map((entry) => entry.job),
      settings.reserveMs,
      (extended) => {
        for (const entry of waiting) {
          if (extended.has(entry.job.id.toLowerCase())) {
            entry.reservedUntil = Math.max(entry.reservedUntil, until);
            entry.confirmedIn = Math.max(entry.confirmedIn, losses);
          }
        }
        // Held back by an outage, they may start now.
        if (waiting.length) this.of.confirmed();
      },
    );
  }

  /** Extends `held` leases by `extendMs`; `extended` learns the ids (in lower case) it extended. */
  private heartbeat(
    held: LeasedJob[],
    extendMs: number,
    extended: (ids: ReadonlySet<string>) => void = () => {},
  ): void {
    const { context, state, claims } = this.of;
    if (held.length === 0) return;
    const sent = new Map(held.map((job) => [job.id, job.leaseToken]));
    const losses = state.link.losses;
    state
      .chore(extendLeases(context, held, { extendMs }))
      .then((result) => {
        state.link.reached(losses);
        extended(result.extended);
        if (result.lost.length) throw leaseLost(result.lost, "heartbeat");
      })
      .catch((error: unknown) => {
        if (!(error instanceof LeaseLostError)) return state.onError(error);
        const reported = (error as LeaseLostError & { lost?: string[] }).lost ?? [];
        // Lost means lost under the token this heartbeat sent, for a job still running or waiting in
        // the buffer under it. A finished job is not (its completion checks its own lease), nor one
        // whose lease the worker renewed by claiming it again; and since such a claim may still be on
        // its way, decide once the claims in flight have landed.
        const decide = () => this.letGoOfLost(reported, sent, error);
        if (claims.inFlight.size === 0) decide();
        else void claims.landed().then(decide);
      });
  }

  private letGoOfLost(reported: string[], sent: Map<string, string>, error: LeaseLostError): void {
    const { state } = this.of;
    const stillHere = (lostId: string) =>
      state.running.has(lostId) || state.buffered.some((entry) => entry.job.id === lostId);
    const lost = reported.filter(
      (lostId) => stillHere(lostId) && state.holding.get(lostId)?.leaseToken === sent.get(lostId),
    );
    for (const lostId of lost) {
      state.holding.delete(lostId);
      state.running.get(lostId)?.abort(error);
      const at = state.buffered.findIndex((entry) => entry.job.id === lostId);
      if (at >= 0) state.buffered.splice(at, 1);
    }
    if (lost.length) {
      state.onError(
        Object.assign(new LeaseLostError(`lost the lease of job(s) ${lost.join(", ")}`), { lost }),
      );
    }
  }
}
