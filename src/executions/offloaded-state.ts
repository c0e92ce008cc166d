/**
 * An execution's state over `limits.offloadAbove` lives in the blob store (offload/), and its row holds
 * a reference. Unlike events and steps, state is replaced, so its blob is written in a transaction with
 * the row: the run's row is locked first, the new blob put, the row written, and the run's earlier
 * state blobs removed, all or nothing (a write refused for a stale version leaves the old state and its
 * blob as they were). A reader that read the row just before such a replace committed finds the old
 * blob gone and reads the row again.
 *
 * `mergeState` writes only what changed: top-level keys merged into the state by the statement itself,
 * so a step that changes one key of a large state sends that key, not the state. Into an offloaded
 * state the keys are merged beside the reference, and the blob is rewritten only when they have grown
 * past the limit themselves.
 */

import { deleteBlobsUnder, deleteBlobsUnderBut } from "../blobs/index.js";
import { inTransaction, type StoreContext } from "../core/context.js";
import { NotFoundError, ValidationError } from "../core/errors.js";
import { checkId, optionalVersion } from "../core/input.js";
import { toJson } from "../core/payload.js";
import {
  OFFLOADED,
  offloadPrefix,
  offloads,
  putValue,
  ReferenceMoved,
  referenceJson,
  refuseReserved,
  resolve,
  resolveEach,
} from "../offload/index.js";
import { get } from "./read.js";
import { COLUMNS, explainMiss } from "./records.js";
import type { Execution, ExecutionWriteOptions } from "./types.js";

/**
 * Runs `write` with the states (JSON text, or null) of runs `ids` as its rows should hold them: a
 * state over the limit is put in the blob store first and replaced by its reference, in a transaction
 * with the write. With no state over the limit, `write` runs as it would have. A state the write puts
 * in its row (`replaces` says which states it writes; all, unless told) releases the blob of an
 * offloaded state it replaced, once written.
 */
export async function withOffloadedStates<T>(
  context: StoreContext,
  ids: readonly string[],
  states: (string | null)[],
  write: (context: StoreContext) => Promise<T>,
  replaces?: readonly boolean[],
): Promise<T> {
  const big = states.flatMap((json, i) =>
    json !== null && offloads(context, { json, bytes: null }) ? [i] : [],
  );
  const inRows =
    context.limits.offloadAbove === undefined
      ? []
      : ids.filter((_, i) => (replaces?.[i] ?? true) && !big.includes(i));
  if (big.length === 0) {
    const written = await write(context);
    await releaseReplaced(context, inRows);
    return written;
  }
  return context.db.transaction(async (tx) => {
    const c = inTransaction(context, tx);
    const runs = big.map((i) => ids[i] as string);
    // Locked in id order, as every batch of this store takes rows: two such writes wait, not deadlock.
    await tx.query(`select 1 from ${c.q}.executions where id = any($1::uuid[]) order by id for update`, [
      [...runs].sort(),
    ]);
    const kept: string[] = [];
    for (const i of big) {
      const id = ids[i] as string;
      const reference = await putValue(
        c,
        id,
        { json: states[i] as string, bytes: null },
        offloadPrefix(id, "state"),
      );
      states[i] = referenceJson(reference);
      kept.push(reference.key);
    }
    const written = await write(c);
    for (const [n, id] of runs.entries()) {
      await deleteBlobsUnder(c, offloadPrefix(id, "state"), kept[n] as string);
    }
    await releaseReplaced(c, inRows);
    return written;
  });
}

/**
 * Removes the state blobs of runs whose state was just written into their rows, but for the one a row
 * names again by now: a large state written meanwhile by a write that waited for this one's row lock.
 */
async function releaseReplaced(context: StoreContext, ids: readonly string[]): Promise<void> {
  const current = (n: number) =>
    `select state #>> '{${OFFLOADED},key}' from ${context.q}.executions where id = $${n}::uuid`;
  for (const id of ids) await deleteBlobsUnderBut(context, offloadPrefix(id, "state"), current, id);
}

/** Executions read from their rows, with offloaded states read back from the blob store (in place). */
export async function resolveStates<T extends Execution | null | undefined>(
  context: StoreContext,
  executions: T[],
): Promise<T[]> {
  await resolveEach(
    context,
    executions.filter((execution): execution is NonNullable<T> => Boolean(execution)),
    (execution) => execution.state,
    (execution, state) => {
      execution.state = state;
    },
  );
  return executions;
}

/**
 * The execution a write returned, its state read back. Should the state have been replaced (and its
 * blob removed) between this write's commit and that read, the state is the run's current one.
 */
export async function resolveWritten<T extends Execution>(context: StoreContext, execution: T): Promise<T> {
  try {
    await resolveStates(context, [execution]);
  } catch (error) {
    if (!(error instanceof ReferenceMoved)) throw error;
    execution.state = (await resolveStates(context, [await get(context, execution.id)]))[0]?.state;
  }
  return execution;
}

/** The top-level keys a merge takes: an object, its values JSON (null removes a key). */
function patchJson(patch: unknown, context: StoreContext): string {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    throw new ValidationError("patch must be an object of top-level keys to merge into the state", {
      field: "patch",
    });
  }
  refuseReserved(patch, "patch");
  return toJson(patch, "patch", context.limits);
}

/**
 * executions.mergeState(): merges top-level keys into the run's state (null removes a key) in one
 * statement, which sends the keys and not the state. The state must be an object, or none (a merge
 * into none starts from {}).
 */
export async function mergeState(
  context: StoreContext,
  id: string,
  patch: Record<string, unknown>,
  options: Pick<ExecutionWriteOptions, "expectedVersion"> = {},
): Promise<Execution> {
  checkId(id, "id");
  const json = patchJson(patch, context);
  const expected = optionalVersion(options.expectedVersion);
  const q = context.q;
  const patchPath = `'{${OFFLOADED},patch}'`;
  // In a row: the keys set and removed. Offloaded: the keys merged into those kept beside the
  // reference (removals kept as null, to apply over the blob when read).
  const { rows } = await context.db.query<Execution & { state_bytes: number }>(
    `update ${q}.executions set
       state = case
         when state ? '${OFFLOADED}'
           then jsonb_set(state, ${patchPath}, coalesce(state #> ${patchPath}, '{}') || $2::jsonb)
         else (coalesce(state, '{}') || (select coalesce(jsonb_object_agg(key, value), '{}')
                                           from jsonb_each($2::jsonb) where value <> 'null'::jsonb))
              - array(select key from jsonb_each($2::jsonb) where value = 'null'::jsonb)
       end,
       version = version + 1,
       updated_at = now()
     where id = $1 and ($3::bigint is null or version = $3)
       and jsonb_typeof(coalesce(state, '{}')) = 'object'
     returning ${COLUMNS}, octet_length(state::text) as state_bytes`,
    [id, json, expected],
  );
  const row = rows[0];
  if (!row) return explainMergeMiss(context, id, expected);
  const { state_bytes: bytes, ...execution } = row;
  const above = context.limits.offloadAbove;
  if (above !== undefined && bytes > above) await compact(context, id, execution.version);
  return resolveWritten(context, execution);
}

/** Why a merge wrote nothing: no such run, a stale version, or a state that is not an object. */
async function explainMergeMiss(context: StoreContext, id: string, expected: number | null): Promise<never> {
  const { rows } = await context.db.query<{ kind: string; version: number }>(
    `select jsonb_typeof(state) as kind, version from ${context.q}.executions where id = $1`,
    [id],
  );
  const found = rows[0];
  if (!found) throw new NotFoundError(`execution ${id} not found`);
  if (expected === null || found.version === expected) {
    throw new ValidationError(
      `the state of execution ${id} is ${found.kind}, not an object: keys cannot be merged into it`,
      { field: "patch" },
    );
  }
  return explainMiss(context, id, expected, null);
}

/**
 * Moves a state that a merge made larger than the limit (in its row, or the keys beside its
 * reference) to a new blob. Its version stays: the value is the same. Left to the next merge when the
 * run moved on meanwhile.
 */
async function compact(context: StoreContext, id: string, version: number): Promise<void> {
  await context.db.transaction(async (tx) => {
    const c = inTransaction(context, tx);
    const { rows } = await tx.query<{ state: unknown }>(
      `select state from ${c.q}.executions where id = $1 and version = $2 for update`,
      [id, version],
    );
    if (!rows[0]) return;
    const state = await resolve(c, rows[0].state);
    const states = [toJson(state, "state", c.limits)];
    await withOffloadedStates(c, [id], states, (w) =>
      w.db.query(`update ${w.q}.executions set state = $2::jsonb where id = $1`, [id, states[0]]),
    );
  });
}
