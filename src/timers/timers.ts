/**
 * Durable timers. They live apart from the job queue, indexed by due time, so thousands of future
 * timers cost the ready queue nothing. A due timer either is claimed with a lease and acknowledged, or is
 * moved into the job queue by `dispatchDue` — in one statement that deletes the timer and inserts a job
 * with the timer's id, so a timer fires once.
 */

import { startBackgroundLoop } from "../core/background.js";
import { forReads, type SqlContext, type StoreContext } from "../core/context.js";
import { LeaseLostError, NotFoundError, ValidationError } from "../core/errors.js";
import { amongIds, type ExecutionIds } from "../core/id-set.js";
import { isUuid, uuidv7 } from "../core/ids.js";
import { checkDate, checkLimit, integerOption, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { OutageReporter } from "../core/outage.js";
import { checkText, toJson } from "../core/payload.js";
import { refuseOnReadOnly } from "../core/read-only.js";
import { jobsChannel, wakeStatement } from "../core/wake.js";
import { addEnqueued } from "../queue/index.js";

export interface ScheduleTimer {
  /** The execution the timer belongs to; (executionId, name) is unique. Omitted: keyed by name alone. */
  executionId?: string | null;
  name: string;
  fireAt: Date;
  payload?: unknown;
  /** The queue `dispatchDue` moves the timer into when it fires (default "timers"). */
  queue?: string;
}

const SCHEDULE_KEYS = optionKeys<ScheduleTimer>({
  executionId: true,
  name: true,
  fireAt: true,
  payload: true,
  queue: true,
});
const LIST_KEYS = optionKeys<{ limit?: number; dueBefore?: Date }>({ limit: true, dueBefore: true });
const CLAIM_KEYS = optionKeys<{ limit?: number; leaseMs?: number; workerId: string }>({
  limit: true,
  leaseMs: true,
  workerId: true,
});
const DISPATCH_KEYS = optionKeys<{ limit?: number }>({ limit: true });
const DISPATCHER_KEYS = optionKeys<{
  limit?: number;
  pollIntervalMs?: number;
  signal?: AbortSignal;
  onError?: unknown;
}>({ limit: true, pollIntervalMs: true, signal: true, onError: true });

export interface Timer {
  id: string;
  executionId: string | null;
  name: string;
  fireAt: Date;
  payload: unknown;
  queue: string;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface LeasedTimer extends Timer {
  leaseToken: string;
}

interface TimerRow {
  id: string;
  execution_id: string | null;
  name: string;
  fire_at: Date;
  payload: unknown;
  queue: string;
  lease_owner: string | null;
  lease_token: string | null;
  lease_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS =
  "id, execution_id, name, fire_at, payload, queue, lease_owner, lease_token, lease_expires_at, created_at, updated_at";

function toTimer(row: TimerRow): Timer {
  return {
    id: row.id,
    executionId: row.execution_id,
    name: row.name,
    fireAt: row.fire_at,
    payload: row.payload,
    queue: row.queue,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function checkExecutionId(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (!isUuid(value)) throw new ValidationError("executionId must be a UUID", { field: "executionId" });
  return value;
}

/** Timers are due when their time has come and nobody holds a live lease on them. */
const DUE = "fire_at <= now() and (lease_expires_at is null or lease_expires_at < now())";

/**
 * The timers of execution `$1` (null: of no execution). The coalesce form is the key of the unique index
 * timers_execution_name, so the index finds them; `is not distinct from` on its own cannot use it and
 * scans the table. The second test keeps the nil UUID, which the coalesce folds into null, apart from
 * null, exactly as `is not distinct from` alone did.
 */
const SAME_EXECUTION = `coalesce(execution_id, '00000000-0000-0000-0000-000000000000'::uuid)
      = coalesce($1::uuid, '00000000-0000-0000-0000-000000000000'::uuid)
  and execution_id is not distinct from $1::uuid`;

/**
 * When a pass of the dispatcher found a timer due at once but could move none (another transaction holds
 * its row: a claim or a dispatch in flight, or an uncommitted reschedule), the next pass goes at once;
 * if that one is stuck too, it waits this long instead of spinning.
 */
const STUCK_RETRY_MS = 50;

export class Timers {
  constructor(protected readonly context: StoreContext) {}

  private get t(): string {
    return `${this.context.q}.timers`;
  }

  /** Schedules a timer; the same execution and name again reschedules it (and voids any lease on it). */
  async schedule(timer: ScheduleTimer): Promise<Timer> {
    refuseUnknownKeys(timer, SCHEDULE_KEYS);
    const executionId = checkExecutionId(timer.executionId);
    const name = checkText(timer.name, "name");
    checkDate(timer.fireAt, "fireAt");
    const queue = checkText(timer.queue ?? "timers", "queue");
    const payload = toJson(timer.payload ?? null, "payload", this.context.limits);
    const { rows } = await this.context.db.query<TimerRow>(
      `insert into ${this.t} as t (id, execution_id, name, fire_at, payload, queue)
       values ($1, $2, $3, $4, $5::jsonb, $6)
       on conflict (coalesce(execution_id, '00000000-0000-0000-0000-000000000000'::uuid), name)
       do update set fire_at = excluded.fire_at, payload = excluded.payload, queue = excluded.queue,
                     lease_owner = null, lease_token = null, lease_expires_at = null, updated_at = now()
       returning ${COLUMNS}`,
      [uuidv7(), executionId, name, timer.fireAt, payload, queue],
    );
    return toTimer(rows[0] as TimerRow);
  }

  /** Cancels a timer; returns false when there was none. */
  async cancel(executionId: string | null, name: string): Promise<boolean> {
    const { rowCount } = await this.context.db.query(
      `delete from ${this.t} where ${SAME_EXECUTION} and name = $2`,
      [checkExecutionId(executionId), checkText(name, "name")],
    );
    return rowCount > 0;
  }

  async get(executionId: string | null, name: string): Promise<Timer> {
    const { rows } = await this.context.db.query<TimerRow>(
      `select ${COLUMNS} from ${this.t}
        where coalesce(execution_id, '00000000-0000-0000-0000-000000000000'::uuid)
              = coalesce($1::uuid, '00000000-0000-0000-0000-000000000000'::uuid) and name = $2`,
      [checkExecutionId(executionId), checkText(name, "name")],
    );
    const row = rows[0];
    if (!row) throw new NotFoundError(`timer ${name} not found`);
    return toTimer(row);
  }

  /** An execution's timers, soonest first. */
  async list(executionId: string | null): Promise<Timer[]> {
    const { rows } = await this.context.db.query<TimerRow>(
      `select ${COLUMNS} from ${this.t} where ${SAME_EXECUTION} order by fire_at, id`,
      [checkExecutionId(executionId)],
    );
    return rows.map(toTimer);
  }

  /**
   * All timers, soonest first (keyset by fire time and id), for dashboards and the CLI; from the
   * store's readConnection when it has one (outside a transaction).
   */
  async listAll(options: { limit?: number; dueBefore?: Date } = {}): Promise<Timer[]> {
    refuseUnknownKeys(options, LIST_KEYS);
    const { rows } = await forReads(this.context).db.query<TimerRow>(
      `select ${COLUMNS} from ${this.t} where $1::timestamptz is null or fire_at <= $1 order by fire_at, id limit $2`,
      [options.dueBefore ?? null, checkLimit(options.limit, 100)],
    );
    return rows.map(toTimer);
  }

  /**
   * The timer that can be dispatched or claimed next, or null when there are no timers. A timer becomes
   * claimable at its `fireAt`; one under a live lease (claimed by `claimDue`, not yet acknowledged) only
   * when that lease expires, so it ranks by `leaseExpiresAt` instead. (Before leases were taken into
   * account this returned the timer with the earliest `fireAt`, leased or not; with no live leases the
   * two agree.)
   */
  async next(): Promise<Timer | null> {
    return (await this.nextReady())?.timer ?? null;
  }

  /** `next()`, and how many milliseconds until it can be claimed (by the database's clock; <= 0: now). */
  private async nextReady(): Promise<{ timer: Timer; waitMs: number } | null> {
    // Two index-served probes on timers_due: the soonest timer nobody holds, and the soonest-expiring
    // live lease. Only claimDue leases, and only due timers (schedule voids the lease), so a leased
    // timer's fire_at has passed and the second probe reads the due range alone.
    const { rows } = await this.context.db.query<TimerRow & { wait_ms: number }>(
      `select ${COLUMNS}, (extract(epoch from ready_at - now()) * 1000)::float8 as wait_ms
         from ((select ${COLUMNS}, fire_at as ready_at from ${this.t}
                 where lease_expires_at is null or lease_expires_at < now()
                 order by fire_at limit 1)
               union all
               (select ${COLUMNS}, lease_expires_at as ready_at from ${this.t}
                 where fire_at <= now() and lease_expires_at >= now()
                 order by lease_expires_at limit 1)) candidates
        order by ready_at, id
        limit 1`,
    );
    const row = rows[0];
    return row ? { timer: toTimer(row), waitMs: Number(row.wait_ms) } : null;
  }

  /** Leases due timers, soonest first. Acknowledge each with `ack` once handled. */
  async claimDue(options: { limit?: number; leaseMs?: number; workerId: string }): Promise<LeasedTimer[]> {
    refuseUnknownKeys(options, CLAIM_KEYS);
    const workerId = checkText(options.workerId, "workerId");
    // A lease under 1 ms has expired as it is taken: another claimer would get the same timer.
    const limit = integerOption(options.limit, "limit", { min: 1, fallback: 100 });
    const leaseMs = integerOption(options.leaseMs, "leaseMs", { min: 1, fallback: 30_000 });
    const { rows } = await this.context.db.query<TimerRow>(
      `update ${this.t} t
          set lease_owner = $2, lease_token = gen_random_uuid(),
              lease_expires_at = now() + $3::int * interval '1 millisecond', updated_at = now()
        where t.id in (select id from ${this.t} where ${DUE} order by fire_at limit $1 for update skip locked)
       returning ${COLUMNS}`,
      [limit, workerId, leaseMs],
    );
    return rows.map((row) => ({ ...toTimer(row), leaseToken: row.lease_token as string }));
  }

  /** Removes a claimed timer. LeaseLostError if the lease expired and was taken, or the timer was rescheduled. */
  async ack(lease: { id: string; leaseToken: string }): Promise<void> {
    if (!isUuid(lease?.id) || !isUuid(lease?.leaseToken)) {
      throw new ValidationError("a timer lease needs id and leaseToken (UUIDs)", { field: "lease" });
    }
    const { rowCount } = await this.context.db.query(
      `delete from ${this.t} where id = $1 and lease_token = $2`,
      [lease.id, lease.leaseToken],
    );
    if (rowCount === 0) {
      throw new LeaseLostError(
        `timer ${lease.id}: the lease is no longer held (it expired, or the timer was rescheduled)`,
      );
    }
  }

  /**
   * Moves up to `limit` due timers into the job queue (each to its `queue`, as a job named after the
   * timer, with the timer's id as the job's id, its payload and execution), atomically, and wakes the
   * workers. Returns how many fired.
   */
  async dispatchDue(options: { limit?: number } = {}): Promise<number> {
    refuseUnknownKeys(options, DISPATCH_KEYS);
    const limit = integerOption(options.limit, "limit", { min: 1, fallback: 500 });
    const { rows } = await this.context.db.query<{ fired: number }>(
      `with due as (
         delete from ${this.t}
          where id in (select id from ${this.t} where ${DUE} order by fire_at limit $1 for update skip locked)
         returning id, execution_id, name, payload, queue
       ),
       queued as (
         insert into ${this.context.q}.jobs (id, queue, name, payload, execution_id)
         select id, queue, name, payload, execution_id from due
         on conflict (id) do nothing
         returning queue
       ),
       ${addEnqueued(this.context, "queued")},
       woken as (${wakeStatement("$2", "queued")})
       select (select count(*) from due)::int as fired from (select 1) one left join woken on true`,
      [limit, jobsChannel(this.context.schema)],
    );
    return rows[0]?.fired ?? 0;
  }

  /**
   * Runs `dispatchDue` until stopped: at once while timers are due, else when the next one can be
   * dispatched (see `next`: a timer someone else holds a lease on waits for that lease to expire), and at
   * most `pollIntervalMs` later (default 1 s), so timers scheduled meanwhile are not missed. A signal
   * that has already fired starts nothing, as it would stop it at once. Like a worker, it keeps the
   * process alive until stopped, and the store's close() stops it first. While the database cannot be
   * reached, its connection errors are reported with backoff, as a worker's are.
   */
  startDispatcher(
    options: {
      limit?: number;
      pollIntervalMs?: number;
      signal?: AbortSignal;
      onError?: (e: unknown) => void;
    } = {},
  ): {
    stop(): Promise<void>;
  } {
    refuseOnReadOnly(this.context, "timers.startDispatcher()");
    refuseUnknownKeys(options, DISPATCHER_KEYS);
    // A pass that fired `limit` timers goes again at once: with a limit of 0 it would never sleep.
    const limit = integerOption(options.limit, "limit", { min: 1, fallback: 500 });
    const pollIntervalMs = integerOption(options.pollIntervalMs, "pollIntervalMs", {
      min: 1,
      fallback: 1_000,
    });
    const outage = new OutageReporter(this.context.logger, "flowstore timers", options.onError);
    let stuck = false;
    return startBackgroundLoop(
      this.context.driver,
      async () => {
        try {
          const fired = await this.dispatchDue({ limit });
          outage.ok();
          if (fired === limit) {
            stuck = false;
            return 0;
          }
          const next = await this.nextReady();
          if (!next) {
            stuck = false;
            return pollIntervalMs;
          }
          // A lease holds while lease_expires_at >= now(): wake just after it, not on it.
          const waitMs = Math.ceil(next.waitMs) + (next.timer.leaseExpiresAt ? 1 : 0);
          // Due now yet nothing moved: its row is locked by another transaction. Retry once at once
          // (it may have come due between the two statements), then back off.
          const wasStuck = stuck;
          stuck = fired === 0 && next.waitMs <= 0;
          const floorMs = stuck && wasStuck ? STUCK_RETRY_MS : 0;
          return Math.min(pollIntervalMs, Math.max(floorMs, waitMs));
        } catch (error) {
          outage.error(error);
          return pollIntervalMs;
        }
      },
      options.signal,
    );
  }
}

/** Retention: deletes the timers of these executions; returns how many. */
export async function deleteTimersOf({ db, q }: SqlContext, executionIds: ExecutionIds): Promise<number> {
  // Through the unique index on (coalesce(execution_id, ...), name).
  const among = amongIds(
    "coalesce(execution_id, '00000000-0000-0000-0000-000000000000'::uuid)",
    executionIds,
  );
  return (await db.query(`delete from ${q}.timers where ${among.sql}`, among.params)).rowCount;
}
