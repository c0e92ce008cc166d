/**
 * Following the primary among several hosts: when the server in use is lost, or stops taking writes,
 * the store looks for the server to use now (see hosts.ts) until one suits, and moves to it. A standby
 * may be promoted only seconds after its primary went, so one look is not enough.
 */

import type pg from "pg";
import { ConnectionError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";

/** Finding the server to use again, when the one in use is lost or stops taking writes. */
export interface Failover {
  /** The server to use now (its URL, password hidden, tells servers apart), or a ConnectionError. */
  choose(): Promise<ChosenServer>;
}

export interface ChosenServer {
  description: string;
  /** A new pool of connections to it. */
  pool(): pg.Pool;
}

/** Looks come 250 ms apart at first (each connects to every host in turn), backing off to 2 s. */
const FIRST_SPACING_MS = 250;
const MAX_SPACING_MS = 2_000;

export class ServerSearch {
  private running: Promise<void> | undefined;
  private lastLookAt = 0;
  private stopped = false;
  /** The pool's sessions refused a write: replace them, even on the same server. */
  private sessionsStale = false;
  /** Ends the wait between two looks. */
  private wake: (() => void) | undefined;

  constructor(
    private readonly failover: Failover,
    private readonly logger: Logger,
    /** The server in use now. */
    private readonly current: () => string | undefined,
    /** Moves to a server other than the current one. */
    private readonly use: (chosen: ChosenServer) => void,
  ) {}

  /**
   * What a failed statement means here: a lost connection, or a server that takes no writes (a
   * standby, a demoted primary), starts a search, unless one runs. The error returned is a
   * ConnectionError for both, which workers and timers wait out as they wait out an outage.
   */
  failed(error: unknown, inReadOnlyTransaction = false): unknown {
    if (this.stopped) return error;
    // In a transaction asked to be read-only, a refused write is the caller's, not the server's.
    const readOnly = !inReadOnlyTransaction && (error as { sqlState?: unknown }).sqlState === "25006";
    if (!(error instanceof ConnectionError) && !readOnly) return error;
    // A server that stopped taking writes may be chosen again once it takes them (a demoted node that
    // is promoted back, a name that moved): its pooled sessions are read-only, so the pool goes anyway.
    if (readOnly) this.sessionsStale = true;
    this.running ??= this.search().finally(() => {
      this.running = undefined;
    });
    if (!readOnly) return error;
    return new ConnectionError(
      `${(error as Error).message}: the server takes no writes (a standby, or a primary stepping down); ` +
        "looking for the primary among the hosts given",
      { cause: error, sqlState: "25006" },
    );
  }

  /** Stops searching; resolves once a search under way has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  /** Looks until a server suits, then moves to it if it is not the one in use. Said once, not at every look. */
  private async search(): Promise<void> {
    let chosen: ChosenServer | undefined;
    for (let spacingMs = FIRST_SPACING_MS; !chosen; ) {
      const waitMs = this.lastLookAt + spacingMs - Date.now();
      if (waitMs > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      if (this.stopped) return;
      this.lastLookAt = Date.now();
      try {
        chosen = await this.failover.choose();
      } catch (error) {
        if (spacingMs === FIRST_SPACING_MS) {
          this.logger.warn(
            { error: (error as Error).message },
            "flowstore: no server to use yet; looking again until one answers",
          );
        }
        spacingMs = Math.min(spacingMs * 2, MAX_SPACING_MS);
      }
    }
    if (this.stopped || (chosen.description === this.current() && !this.sessionsStale)) return;
    this.sessionsStale = false;
    this.logger.warn(
      { from: this.current(), to: chosen.description },
      "flowstore: the server changed; connecting to the one chosen now",
    );
    this.use(chosen);
  }
}
