import type { Jobs, LeasedJob } from "../queue/index.js";
import type { JobContext, JobsScope } from "./types.js";

/**
 * A job a handler is running, and the context the handler gets. The AbortController is made only when
 * the handler reads `signal`: at tens of thousands of jobs a second, one per job is a real cost.
 */
export class Held<Tx extends JobsScope> implements JobContext<Tx> {
  tx?: Tx;
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private aborted = false;
  private boundHeartbeat: (() => Promise<void>) | undefined;
  /** Set when the worker stopped waiting for this handler and handed its job back (its stop timeout). */
  abandoned = false;
  /** How long the job had waited since it was due when its run started, by the database's clock. */
  waitedMs = 0;

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

  // A function bound to its job, not a method, so a handler may destructure it from its context; made
  // when first read, as most handlers never heartbeat. With one connection (PGlite) a transactional
  // handler's heartbeat must go through its own transaction, or it would wait for that transaction to end.
  get heartbeat(): () => Promise<void> {
    this.boundHeartbeat ??= () =>
      (this.singleConnection && this.tx ? this.tx.jobs : this.jobs).heartbeat(this.job, {
        extendMs: this.leaseMs,
      });
    return this.boundHeartbeat;
  }

  /** The worker gives up on this handler: its job went back, the run counted; its outcome is not recorded. */
  abandon(reason: unknown): void {
    this.abandoned = true;
    this.abort(reason);
  }

  abort(reason: unknown): void {
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}
