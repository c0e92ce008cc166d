/**
 * Signals on a schema distributed with Citus. There `signals` is distributed by token and `executions`
 * by id: a statement cannot join a token's row with its holder's run, as the single statements of
 * signals.ts do. Each call here reads and writes one, then the other, each statement on one shard
 * (a list of one run's tokens, or of all of them, reads every shard of `signals`), in one transaction
 * where a write depends on what was read: the token's row is locked first, so claims, releases and
 * deliveries of one token take turns, and the holder's run is read after the lock, so a holder that
 * committed with its claim is seen.
 */

import type { StoreContext } from "../core/context.js";
import { ConflictError, NotFoundError } from "../core/errors.js";
import { isTerminal, type RunStatus } from "../core/run-status.js";
import type { Queryable } from "../db/driver.js";
import type { HistoryEvent } from "../history/index.js";
import { type AppendColumns, appendOnCitus, eventsChannelPrefix, toEvent } from "../history/index.js";

/** A row of `signals` as the calls read it. */
export interface SignalRow {
  token: string;
  execution_id: string;
  metadata: unknown;
  metadata_bytes: Uint8Array | null;
  created_at: Date;
}

export const SIGNAL_RETURNING = "token, execution_id, metadata, metadata_bytes, created_at";

type Context = Pick<StoreContext, "db" | "q" | "schema">;

/** The run's status (locked for key share when `lock`), or undefined when there is no such run. */
async function runStatus(db: Queryable, q: string, id: string, lock = false): Promise<RunStatus | undefined> {
  const { rows } = await db.query<{ status: RunStatus }>(
    `select status from ${q}.executions where id = $1${lock ? " for key share" : ""}`,
    [id],
  );
  return rows[0]?.status;
}

/**
 * What `Signals.claim` does, in steps: the claimer's run (locked for key share, as the single
 * statement locks it), then the token's row (locked for update), then its holder's run. The row is
 * taken over when its holder finished or is gone: the holder's run is read after the row's lock, so a
 * holder committed with (or before) its claim is seen, and one missing is gone. Returns the row
 * written, or the live holder's row when another run holds the token.
 */
export async function claimOnCitus(
  { db, q }: Context,
  token: string,
  executionId: string,
  metadata: { json: unknown; bytes: Uint8Array | null },
): Promise<{ claimed: true; row: SignalRow } | { claimed: false; row: SignalRow }> {
  return db.transaction(async (tx) => {
    const claimer = await runStatus(tx, q, executionId, true);
    if (!claimer) throw new NotFoundError(`execution ${executionId} not found`);
    if (isTerminal(claimer)) {
      throw new ConflictError(`execution ${executionId} is ${claimer}: a finished execution holds no token`);
    }
    const values = [token, executionId, metadata.json, metadata.bytes];
    // An insert that finds the token taken (by a claim that committed after the read found no row)
    // reads again, now seeing that row.
    for (let attempt = 0; attempt < 3; attempt++) {
      const { rows } = await tx.query<SignalRow>(
        `select ${SIGNAL_RETURNING} from ${q}.signals where token = $1 for update`,
        [token],
      );
      const held = rows[0];
      if (!held) {
        const inserted = await tx.query<SignalRow>(
          `insert into ${q}.signals (token, execution_id, metadata, metadata_bytes)
           values ($1, $2, $3::jsonb, $4::bytea) on conflict (token) do nothing returning ${SIGNAL_RETURNING}`,
          values,
        );
        if (inserted.rows[0]) return { claimed: true, row: inserted.rows[0] };
        continue;
      }
      if (held.execution_id === executionId) return { claimed: true, row: held };
      const holder = await committedStatus(tx, q, held.execution_id);
      if (holder && !isTerminal(holder)) return { claimed: false, row: held };
      const taken = await tx.query<SignalRow>(
        `update ${q}.signals set execution_id = $2, metadata = $3::jsonb, metadata_bytes = $4::bytea,
                created_at = now()
          where token = $1 returning ${SIGNAL_RETURNING}`,
        values,
      );
      return { claimed: true, row: taken.rows[0] as SignalRow };
    }
    throw new ConflictError("the token changed hands while being claimed; try again");
  });
}

/** Rolls back the probe's savepoint. */
class ProbeDone extends Error {}

/**
 * The holder's status as committed, or undefined when its run is gone. Citus commits a transaction that
 * wrote on several nodes node by node: a claim that waited for the token's row can read it committed on
 * its node while the holder's run, written in the same transaction, is not yet committed on the run's
 * node, and so not seen. A run not seen is therefore probed: an insert of its id, which waits for a
 * transaction inserting that id to end, in a savepoint rolled back whatever it found. A run still not
 * there is gone; one that is, committed meanwhile, is read again.
 */
async function committedStatus(tx: Queryable, q: string, id: string): Promise<RunStatus | undefined> {
  const status = await runStatus(tx, q, id);
  if (status !== undefined) return status;
  let missing = false;
  await tx
    .transaction(async (probe) => {
      const { rows } = await probe.query(
        `insert into ${q}.executions (id, name, status) values ($1, '', 'cancelled')
         on conflict (id) do nothing returning id`,
        [id],
      );
      missing = rows.length > 0;
      throw new ProbeDone();
    })
    .catch((error: unknown) => {
      if (!(error instanceof ProbeDone)) throw error;
    });
  return missing ? undefined : runStatus(tx, q, id);
}

/** The token's row when its holder is live: the row, then the holder's run. */
export async function liveHolding({ db, q }: Context, token: string): Promise<SignalRow | undefined> {
  const { rows } = await db.query<SignalRow>(
    `select ${SIGNAL_RETURNING} from ${q}.signals where token = $1`,
    [token],
  );
  const row = rows[0];
  if (!row) return undefined;
  const holder = await runStatus(db, q, row.execution_id);
  return holder && !isTerminal(holder) ? row : undefined;
}

/**
 * What `Signals.release` does: deletes the token's row (only `executionId`'s, when given) and tells
 * whether its holder was live.
 */
export async function releaseOnCitus(
  { db, q }: Context,
  token: string,
  executionId: string | null,
): Promise<boolean> {
  const { rows } = await db.query<{ execution_id: string }>(
    `delete from ${q}.signals where token = $1 and ($2::uuid is null or execution_id = $2) returning execution_id`,
    [token, executionId],
  );
  const holder = rows[0] ? await runStatus(db, q, rows[0].execution_id) : undefined;
  return holder !== undefined && !isTerminal(holder);
}

/**
 * What `Signals.deliver` does: the token's row, locked for share (a claim or release of the token waits
 * for the delivery), then the append to its holder's history (history's own on Citus), which appends
 * nothing when the holder finished or is gone. Undefined when no live run holds the token.
 */
export async function deliverOnCitus(
  context: Context,
  token: string,
  columns: AppendColumns,
): Promise<HistoryEvent | undefined> {
  const { db, q, schema } = context;
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ execution_id: string }>(
      `select execution_id from ${q}.signals where token = $1 for share`,
      [token],
    );
    const holder = rows[0]?.execution_id;
    if (!holder) return undefined;
    const appended = await appendOnCitus(
      { db: tx, q },
      holder,
      columns,
      null,
      eventsChannelPrefix(schema),
      true,
    );
    return appended.rows[0] ? toEvent(appended.rows[0]) : undefined;
  });
}
