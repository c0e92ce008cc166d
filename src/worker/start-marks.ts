/**
 * The worker's start marks. A prefetched job's attempt counts from the moment its handler starts, so
 * that a worker dying with jobs in its buffer burns none of theirs. Rather than writing each job's row
 * as it starts, a worker numbers its claims (batches), starts batches in order and each batch's jobs in
 * claim order, and keeps one row, job_starts, saying how far it has got: the last job it started.
 * Whether a reserved job had started is then a comparison with that row, made only when the job is
 * taken back after its lease lapsed (startedRun), and by fail() and release(), which count the run
 * themselves.
 *
 * A mark is sent before the handlers it covers run and is not waited for, one statement in flight at a
 * time: a handler that brings its process down is counted in practice, as long as its mark made it out.
 * A mark also records the worker's leaseMs, so the jobs it covers stay the worker's for that long even
 * before a heartbeat extends their own leases, which are reservations of a few seconds (startLeaseHeld).
 */

import { randomUUID } from "node:crypto";
import type { StoreContext } from "../core/context.js";
import { RELAXED_COMMIT, RUN_AT_US, relaxedCommit } from "../queue/sql.js";

/** Where a job stands in its worker's start order: its claim, then the claim's own order. */
export interface StartPlace {
  batch: number;
  priority: number;
  runAtUs: string;
  id: string;
}

/**
 * SQL: 1 when a claim by `claimer` takes back the job (as `alias`) from a run it must count, else 0: the
 * job is reserved, its worker had started it, and that worker is another one, or the claimer itself
 * when the job is among `letGo` (a uuid[]: runs it started and could not record the end of, see
 * StartMarks.letGo). A job a worker takes back while still running it is not counted: its run counts
 * when it ends. Only a running job can have been started; for a waiting one the subquery is not run.
 * The order (batch, priority descending, run_at, id) is the claim order.
 */
export function startedRun(context: StoreContext, alias: string, claimer: string, letGo: string): string {
  const j = alias;
  const runAtUs = RUN_AT_US.replaceAll("j.", `${j}.`);
  return `(case when ${j}.status = 'running' and ${j}.reserved_by is not null
                 and (${j}.reserved_by is distinct from ${claimer} or ${j}.id = any(${letGo}))
                 and exists (select 1 from ${context.q}.job_starts s
                              where s.worker = ${j}.reserved_by
                                and (s.batch, ${j}.priority, s.run_at_us, s.job_id)
                                    >= (${j}.reserved_batch, s.priority, ${runAtUs}, ${j}.id))
            then 1 else 0 end)`;
}

/**
 * SQL: true when the job (as `alias`) started under its worker's reservation and neither its own lease
 * nor its worker's latest start mark is older than that worker's leaseMs. Its lease ran out before a
 * heartbeat extended it (a handler holding the event loop as it started), not because the worker is
 * gone: a claim does not take it back yet. Bounded by the job's own lease too, so a job its worker let
 * go of without finishing it (its failure could not be recorded) comes back while the worker goes on.
 */
export function startLeaseHeld(context: StoreContext, alias: string): string {
  const j = alias;
  const runAtUs = RUN_AT_US.replaceAll("j.", `${j}.`);
  const window = "s.lease_ms * interval '1 millisecond'";
  return `(${j}.reserved_by is not null
           and exists (select 1 from ${context.q}.job_starts s
                       where s.worker = ${j}.reserved_by
                         and s.updated_at > now() - ${window} and ${j}.lease_expires_at > now() - ${window}
                         and (s.batch, ${j}.priority, s.run_at_us, s.job_id)
                             >= (${j}.reserved_batch, s.priority, ${runAtUs}, ${j}.id)))`;
}

/** SQL: 1 when the job's current run is not yet among its attempts (it runs under a reservation). */
export const RUN_NOT_COUNTED = "(case when reserved_by is not null then 1 else 0 end)";

/** What a worker's claims pass as letGo while it has let go of no run. */
const NONE: readonly string[] = [];

export class StartMarks {
  /** This worker's own id for its reservations and its job_starts row (a new one per run). */
  readonly worker = randomUUID();
  private latest: StartPlace | undefined;
  private sent: StartPlace | undefined;
  private inFlight: Promise<void> | undefined;
  /**
   * Jobs whose run this worker started and could not record the end of (its failure or completion
   * failed): each stays reserved in the worker's name until its lease lapses. In the database, a job
   * the worker's own claim takes back then looks the same as one whose handler still runs (and whose
   * run counts when it ends), so the worker's claims name these: taking one back counts its run.
   */
  private readonly unrecorded = new Set<string>();

  constructor(
    private readonly context: StoreContext,
    /** The worker's leaseMs, which each mark records (see startLeaseHeld). */
    private readonly leaseMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Records that every job up to `place` in the start order has started. */
  started(place: StartPlace): void {
    this.latest = place;
    this.flush();
  }

  /** Records that the worker let go of this started job without recording the end of its run. */
  letGo(jobId: string): void {
    this.unrecorded.add(jobId);
  }

  /** The jobs the worker let go of, for its claims (see letGo). */
  get letGoIds(): readonly string[] {
    return this.unrecorded.size ? [...this.unrecorded] : NONE;
  }

  /**
   * A claim of the worker, sent naming `named` (letGoIds when it went out), brought these jobs back: the
   * runs it let go of among them and named are counted now. One let go of after the claim went out was
   * not named, so not counted: it stays, for the next claim that takes the job back.
   */
  takenBack(jobs: readonly { id: string }[], named: readonly string[]): void {
    if (this.unrecorded.size === 0 || named.length === 0) return;
    const counted = new Set(named);
    for (const job of jobs) if (counted.has(job.id)) this.unrecorded.delete(job.id);
  }

  /**
   * Forgets the jobs let go of that are no longer reserved by this worker: another worker took them
   * back (and counted their run), or they went dead as this worker's claim took them.
   */
  async forgetTakenBack(): Promise<void> {
    if (this.unrecorded.size === 0) return;
    const asked = [...this.unrecorded];
    const { rows } = await this.context.db.query<{ id: string }>(
      `select id from ${this.context.q}.jobs where id = any($1::uuid[]) and status = 'running' and reserved_by = $2`,
      [asked, this.worker],
    );
    const still = new Set(rows.map((row) => row.id));
    for (const id of asked) if (!still.has(id)) this.unrecorded.delete(id);
  }

  /** Resolves once the latest mark has landed. */
  async flushAll(): Promise<void> {
    this.flush();
    while (this.inFlight) await this.inFlight;
  }

  /** Removes this worker's row, once none of its reservations is left. */
  async forget(): Promise<void> {
    await this.flushAll();
    await this.context.db.query(`delete from ${this.context.q}.job_starts where worker = $1`, [this.worker]);
  }

  private flush(): void {
    const place = this.latest;
    if (this.inFlight || !place || place === this.sent) return;
    this.sent = place;
    const { q } = this.context;
    const relaxed = relaxedCommit(this.context);
    this.inFlight = this.context.db
      .query(
        `${relaxed ? `with ${RELAXED_COMMIT} ` : ""}
         insert into ${q}.job_starts (worker, batch, priority, run_at_us, job_id, lease_ms)
         select $1, $2, $3, $4, $5, $6${relaxed ? " from relaxed_commit" : ""}
         on conflict (worker) do update
           set batch = excluded.batch, priority = excluded.priority, run_at_us = excluded.run_at_us,
               job_id = excluded.job_id, lease_ms = excluded.lease_ms, updated_at = now()`,
        [this.worker, place.batch, place.priority, place.runAtUs, place.id, this.leaseMs],
        { prepare: true },
      )
      .then(() => undefined, this.onError)
      .finally(() => {
        this.inFlight = undefined;
        this.flush();
      });
  }
}

/**
 * Removes the job_starts rows of workers that hold no reservation any more (they stopped without
 * removing theirs, or died and their jobs were taken back). Returns how many went.
 */
export async function forgetIdleWorkers(context: StoreContext): Promise<number> {
  const { q } = context;
  const { rows } = await context.db.query<{ n: number }>(
    `with gone as (
       delete from ${q}.job_starts s
        where s.updated_at < now() - interval '1 minute'
          and not exists (select 1 from ${q}.jobs j where j.status = 'running' and j.reserved_by = s.worker)
       returning 1)
     select count(*)::int as n from gone`,
  );
  return rows[0]?.n ?? 0;
}
