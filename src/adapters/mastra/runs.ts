/**
 * How a Mastra workflow run lives in flowstore: a row of mastra_runs (migration 0046) by a key that
 * names the run. The snapshot is the row's state, with its `context` split in two: small entries (a
 * step's result of a few hundred bytes, as most are) stay in the state, so a persist or a load of a
 * run of small steps is one row; a big entry (a document, a model's long output) is a row of
 * mastra_run_parts of its own, so a step's update writes that step and nothing else, and an unchanged
 * megabyte is neither sent nor rewritten.
 */

import type { WorkflowRun } from "@mastra/core/storage";
import type { WorkflowRunState } from "@mastra/core/workflows";
import { ValidationError } from "../../core/errors.js";
import { checkText, DEFAULT_LIMITS, toJson, toShortJson } from "../../core/payload.js";
import { refuseReserved } from "../../offload/index.js";
import { mastraRunIdOf, mastraRunKey } from "../../retention/index.js";

/** Component ids of the context's entries start with this; what follows is the entry's key. */
export const CONTEXT_PART = "context/";

/** A run's key (see mastraRunKey: the run id first, so that every key of one id shares a prefix). */
export const runKey = mastraRunKey;

/** The keys of every run with this id, as a range of text in byte order: [from, to). */
export function runIdRange(runId: string): [string, string] {
  const prefix = `mastra:[${JSON.stringify(runId)},`;
  return [prefix, `${prefix.slice(0, -1)}-`];
}

/** The run id of a run's key (runKey). */
export const runIdOf = mastraRunIdOf;

/** A workflow name or run id as Mastra passes it: non-empty text PostgreSQL can hold. */
export function checkName(value: unknown, field: string): string {
  return checkText(value, field, 255);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A snapshot as its rows take it: the state's JSON (small entries in it) and each big entry's. */
export interface SplitSnapshot {
  state: string;
  partIds: string[];
  parts: string[];
}

/**
 * The key of a run's state that says some of its context is in rows, set by each write that makes one:
 * a read of a run without it does not look for rows. A store written before rows were marked kept every
 * entry a row and the context empty; migration 0048 marked those runs. Never part of the snapshot read
 * back.
 */
export const ROWS_MARK = "$flowstore:rows";

/** Whether a run's state as read may have context rows: workflow-sql.ts's mayHaveRows, in JavaScript. */
export function stateMayHaveRows(state: unknown): boolean {
  return isPlainObject(state) && ROWS_MARK in state;
}

/** A context entry of at most this many characters of JSON stays in the run's state... */
export const INLINE_ENTRY = 2048;
/** ...while the entries kept there so far total at most this many: the rest are rows. */
export const INLINE_TOTAL = 8192;

/** Whether an entry's JSON stays in the state, `inlined` characters of entries being there already. */
export function staysInline(json: string, inlined: number, offloadAbove: number | undefined): boolean {
  return (
    json.length <= INLINE_ENTRY &&
    inlined + json.length <= INLINE_TOTAL &&
    (offloadAbove === undefined || Buffer.byteLength(json) <= offloadAbove)
  );
}

/**
 * Splits a snapshot. A context that is an object keeps its small entries in the state, in entry order
 * until they total INLINE_TOTAL, and makes the others rows; a context of any other kind stays in the
 * state as it is. An entry over the store's `offloadAbove` is always a row (it goes to the blob store).
 * Refuses what JSON cannot hold faithfully.
 */
export function splitSnapshot(
  snapshot: unknown,
  limits?: { jsonBytes: number; offloadAbove?: number },
): SplitSnapshot {
  if (!isPlainObject(snapshot)) {
    throw new ValidationError("snapshot must be an object (a WorkflowRunState)", { field: "snapshot" });
  }
  if (Object.prototype.propertyIsEnumerable.call(snapshot, ROWS_MARK)) {
    throw new ValidationError(`snapshot.${ROWS_MARK} is a name flowstore keeps for itself`, {
      field: "snapshot",
    });
  }
  const partIds: string[] = [];
  const parts: string[] = [];
  const context = snapshot.context;
  // The snapshot whole when small, its copy without the context made only where it is not.
  const whole = isPlainObject(context) ? smallWhole(snapshot, context, limits) : undefined;
  if (whole !== undefined) return { state: whole, partIds, parts };
  const { context: _context, ...rest } = snapshot;
  if (!isPlainObject(context)) {
    const state = context === undefined ? rest : { ...rest, context };
    return { state: toJson(state, "snapshot", limits), partIds, parts };
  }
  let inlineJson = "";
  let inlined = 0;
  for (const [key, value] of Object.entries(context)) {
    if (value === undefined) continue;
    refuseReserved(value, `snapshot.context.${key}`);
    const json = toJson(value, `snapshot.context.${key}`, limits);
    if (staysInline(json, inlined, limits?.offloadAbove)) {
      inlined += json.length;
      // The key as JSON text, refused where JSONB would refuse it (a NUL, a lone surrogate).
      inlineJson += `${inlineJson ? "," : ""}${toJson(key, `snapshot.context's key ${JSON.stringify(key)}`)}:${json}`;
    } else {
      partIds.push(CONTEXT_PART + key);
      parts.push(json);
    }
  }
  // The inline entries' JSON (checked above) goes in as it is, not made again from the values, as the
  // state's last key; a run with rows is marked so, for its reads (ROWS_MARK).
  const head = toJson(partIds.length ? { ...rest, [ROWS_MARK]: true } : rest, "snapshot", limits);
  const json = `${head.length > 2 ? `${head.slice(0, -1)},` : "{"}"context":{${inlineJson}}}`;
  return { state: json, partIds, parts };
}

/**
 * The snapshot's JSON whole when it is no longer than one entry may be (INLINE_ENTRY) and nothing of it
 * goes to the blob store: every entry then stays in the state, which is this text (jsonb keeps no key
 * order, so where the context comes is nothing). One walk and one JSON.stringify, in place of one per
 * entry and key. Undefined when the snapshot is larger, or refused: splitSnapshot's own walk then
 * decides, and names what it refuses entry by entry.
 */
function smallWhole(
  snapshot: Record<string, unknown>,
  context: Record<string, unknown>,
  limits: { jsonBytes: number; offloadAbove?: number } | undefined,
): string | undefined {
  let json: string | undefined;
  try {
    for (const key of Object.keys(context)) refuseReserved(context[key], key);
    // A snapshot surely longer is not made into JSON whole first: at twenty resumes of a run whose
    // steps each gave 64 kB, that was a megabyte of JSON made for nothing at every persist.
    json = toShortJson(snapshot, "snapshot", limits ?? DEFAULT_LIMITS, INLINE_ENTRY + 1);
  } catch {
    return undefined;
  }
  if (json === undefined || json.length > INLINE_ENTRY) return undefined;
  const above = limits?.offloadAbove;
  return above === undefined || Buffer.byteLength(json) <= above ? json : undefined;
}

/** The snapshot @mastra/pg makes for a step result that comes before any snapshot of its run. */
export function pendingSnapshot(runId: string): Record<string, unknown> {
  return {
    context: {},
    activePaths: [],
    timestamp: Date.now(),
    suspendedPaths: {},
    activeStepsPath: {},
    resumeLabels: {},
    serializedStepGraph: [],
    status: "pending",
    value: {},
    waitingPaths: {},
    runId,
    requestContext: {},
  };
}

/** The snapshot back from its state and its context's rows. */
export function joinSnapshot(
  state: unknown,
  parts: readonly { componentId: string; value: unknown }[],
): Record<string, unknown> {
  if (!isPlainObject(state)) return {};
  // A run of small entries only, as read (a state parsed for this call): returned as it is.
  if (parts.length === 0 && !(ROWS_MARK in state)) return state;
  const { [ROWS_MARK]: _marked, ...snapshot } = state;
  if (isPlainObject(snapshot.context)) snapshot.context = contextOf(parts, snapshot.context);
  return snapshot;
}

/** A context map: the entries kept in the state (`inline`), and those of rows (over them). */
export function contextOf(
  parts: readonly { componentId: string; value: unknown }[],
  inline: Record<string, unknown> = {},
): Record<string, unknown> {
  const context: Record<string, unknown> = { ...inline };
  for (const part of parts) {
    if (part.componentId.startsWith(CONTEXT_PART)) {
      context[part.componentId.slice(CONTEXT_PART.length)] = part.value;
    }
  }
  return context;
}

/** A row of withParts (workflow-sql.ts): a run, with its entries as [id, value] pairs. */
export interface RunRow {
  id: string;
  key: string;
  name: string;
  state: Record<string, unknown> | null;
  resourceId: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** Unset where the statement did not read them (loadSql and loadStateSql with parts read them). */
  parts?: [string, unknown][] | null;
}

/** A run's row with its entries as objects, whose values may be put back from the blob store in place. */
export interface RunWithEntries {
  row: RunRow;
  entries: { componentId: string; value: unknown }[];
}

/** Rows of withParts with their entries as objects. */
export function withEntries(rows: readonly RunRow[]): RunWithEntries[] {
  return rows.map((row) => ({
    row,
    entries: (row.parts ?? []).map(([componentId, value]) => ({ componentId, value })),
  }));
}

/** Runs read (withEntries) as Mastra's runs. */
export function groupRuns(runs: readonly RunWithEntries[]): WorkflowRun[] {
  return runs.map(({ row, entries }) => ({
    workflowName: row.name,
    runId: runIdOf(row.key),
    snapshot: joinSnapshot(row.state, entries) as unknown as WorkflowRunState,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    ...(row.resourceId ? { resourceId: row.resourceId } : {}),
  }));
}

/**
 * Reads of one run asked for in the same turn of the event loop share one statement. Eight resumes of
 * one suspended run in one process read it at once; sent one by one, their reads queue on the pool
 * and spread over milliseconds, long enough for one resume's claim to land before the others read, so
 * they wait for Mastra's 25 ms poll of a running run instead of losing the claim at once. The shared
 * statement is sent on the next tick, after every read that joins it began (each sees the run at
 * least as new as when it asked); a read never joins a statement already sent; with more than one
 * caller, each gets a copy of its own.
 */
export class SharedReads<T> {
  private readonly pending = new Map<string, { result: Promise<T>; joiners: number }>();

  read(key: string, read: () => Promise<T>): Promise<T> {
    const joined = this.pending.get(key);
    if (joined) {
      joined.joiners++;
      return joined.result.then((value) => structuredClone(value));
    }
    const started = new Promise<void>((resolve) => process.nextTick(resolve));
    const entry = {
      joiners: 0,
      result: started.then(() => {
        this.pending.delete(key);
        return read();
      }),
    };
    this.pending.set(key, entry);
    return entry.result.then((value) => (entry.joiners > 0 ? structuredClone(value) : value));
  }
}
