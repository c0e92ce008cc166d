/**
 * Where executions.fork and executions.rewind cut a run at step N, shared by both (fork.ts copies what
 * is kept, rewind.ts deletes the rest).
 *
 * Steps are cut by number: those below N are kept. Every other record is cut where the last kept step
 * (the highest-numbered step below N) was recorded, in the order the database recorded the run's rows:
 * each row of steps, events, tasks, streams, stream chunks and signals takes the next number of one
 * sequence when inserted (its `recorded` column, migration 0033), and a stream's close takes one too.
 * What was recorded up to that step's row is kept; what came after it is step N's work or later (the
 * chunks a step streams and the events it appends are written before its checkpoint, so they go with
 * it). The clock would tie (a transaction's rows share its now(); PGlite counts whole milliseconds);
 * the sequence does not. With no step below N nothing is kept.
 *
 * Records that have an order of their own keep a prefix of it, so no gap opens: the history up to its
 * first event recorded after the cut, and each stream up to its first chunk recorded after it.
 *
 * Rows written before migration 0033 have no number: they come before every numbered row, and among
 * themselves are cut by their times (created_at, and closed_at for a close) against the step's.
 *
 * Every statement here takes $1 = the run's id and $2 = N, and names the cut `cut`.
 */

import type { StoreContext } from "../core/context.js";
import { ConflictError, NotFoundError, ValidationError } from "../core/errors.js";
import { checkId, checkInteger, MAX_INT, optionalVersion, refuseUnknownKeys } from "../core/input.js";
import { isTerminal, type RunStatus } from "../core/run-status.js";

/** A fork's or a rewind's checked input. */
export interface CutPlan {
  id: string;
  step: number;
  force: boolean;
  expectedVersion: number | null;
}

/** Checks the id and the options (refusing unknown keys) before anything is sent. */
export function checkCut(
  id: unknown,
  options: unknown,
  keys: ReadonlySet<string>,
  stepField: "fromStep" | "toStep",
): CutPlan {
  const checkedId = checkId(id, "id");
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ValidationError(`options must be an object with ${stepField}`, { field: stepField });
  }
  refuseUnknownKeys(options, keys);
  const given = options as Record<string, unknown>;
  const force = given.force ?? false;
  if (typeof force !== "boolean") {
    throw new ValidationError(`force must be a boolean, got ${typeof force}`, { field: "force" });
  }
  return {
    id: checkedId,
    step: checkInteger(given[stepField], stepField, 0, MAX_INT),
    force,
    expectedVersion: optionalVersion(given.expectedVersion),
  };
}

/** The CTE `cut`: the last kept step's number in the order and its time; no row when none is kept. */
function cutStep(q: string): string {
  return `cut as (select recorded, created_at from ${q}.steps where execution_id = $1 and step_number < $2
                   order by step_number desc limit 1)`;
}

/** True for a row recorded at or before the cut: `order` its number (or null), `time` its time. */
function beforeCut(order: string, time: string): string {
  return `coalesce((select case when c.recorded is null then ${order} is null and ${time} <= c.created_at
                                else ${order} is null or ${order} <= c.recorded end
                      from cut c), false)`;
}

/** The first event of the run recorded after the cut (null when none): it and those after it go. */
function firstEventAfter(q: string): string {
  return `(select min(l.seq) from ${q}.events l
            where l.execution_id = $1 and not ${beforeCut("l.recorded", "l.created_at")})`;
}

/** The first chunk of stream `stream` recorded after the cut (null when none): it and those after it go. */
function firstChunkAfter(q: string, stream: string): string {
  return `(select min(l.chunk_index) from ${q}.stream_chunks l
            where l.execution_id = $1 and l.stream = ${stream} and not ${beforeCut("l.recorded", "l.created_at")})`;
}

/** Stream `s`'s close, when it came before the cut: its closed_at, else null (open again). */
function closedBeforeCut(column: "closed_at" | "closed_recorded"): string {
  return `case when s.closed_at is not null and ${beforeCut("s.closed_recorded", "s.closed_at")} then s.${column} end`;
}

/** The cut's SQL for the schema `q`, as fork.ts and rewind.ts put it in their statements. */
export function cutSql(q: string) {
  return {
    /** The CTE `cut`, which the others read. */
    step: cutStep(q),
    before: beforeCut,
    firstEventAfter: firstEventAfter(q),
    firstChunkAfter: (stream: string) => firstChunkAfter(q, stream),
    closed: closedBeforeCut,
  };
}

/**
 * Reads the run (locked until the transaction ends, for a rewind) and refuses, before anything is
 * written: an unknown run, another version than expected, a run not finished (unless forced) and a
 * step past the run's last step + 1.
 */
export async function readCut(
  context: StoreContext,
  plan: CutPlan,
  stepField: "fromStep" | "toStep",
  lock: boolean,
): Promise<void> {
  const { db, q } = context;
  const { rows } = await db.query<{ status: RunStatus; version: string; last: number | null }>(
    `select e.status, e.version,
            (select max(step_number) from ${q}.steps where execution_id = $1) as last
       from ${q}.executions e where e.id = $1 ${lock ? "for update of e" : ""}`,
    [plan.id],
  );
  const run = rows[0];
  if (!run) throw new NotFoundError(`execution ${plan.id} not found`);
  if (plan.expectedVersion !== null && Number(run.version) !== plan.expectedVersion) {
    throw new ConflictError(
      `execution ${plan.id} is at version ${run.version}, not ${plan.expectedVersion}; nothing was written`,
    );
  }
  if (!plan.force && !isTerminal(run.status)) {
    throw new ConflictError(
      `execution ${plan.id} is ${run.status}: whoever runs it would go on writing past the cut; ` +
        "let it finish or cancel it first, or pass force: true",
    );
  }
  const past = (run.last ?? -1) + 1;
  if (plan.step > past) {
    throw new ValidationError(
      `${stepField} ${plan.step} is past execution ${plan.id}'s steps: it recorded ${past === 0 ? "none" : `steps up to ${past - 1}`}, so ${stepField} goes up to ${past}`,
      { field: stepField },
    );
  }
}
