/**
 * Mastra's workflow runs, as flowstore/mastra keeps them (migration 0046's mastra_runs): the runs, newest
 * first, of every workflow or of one, a page at a time; and one run with its steps (each context entry's
 * status, a big entry's read from its row) and its snapshot (big entries named, not read). Read from the
 * tables alone, as threads.ts reads LangGraph's: Mastra need not be installed where the dashboard runs.
 * The tables exist on every migrated store, so a store that never ran a Mastra workflow shows none.
 */

import { type Store, ValidationError } from "../index.js";
import { mastraRunIdOf, mastraRunKey } from "../retention/index.js";

const RUNS_PAGE = 50;

export interface MastraRunSummary {
  workflowName: string;
  runId: string;
  /** Mastra's own status (`running`, `suspended`, `success`...), as the snapshot holds it. */
  status: string | null;
  resourceId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface MastraRunView extends MastraRunSummary {
  /** The context's entries: the input, then each step as they started, with the step's status. */
  steps: { id: string; status: string | null; inRow: boolean }[];
  /** The snapshot without its context's values (the steps above say what it holds). */
  snapshot: Record<string, unknown>;
}

interface RunRow {
  key: string;
  workflow_name: string;
  status: string | null;
  resource_id: string | null;
  created_at: Date;
  updated_at: Date;
  at_us: string;
}

const summary = (row: RunRow): MastraRunSummary => ({
  workflowName: row.workflow_name,
  runId: mastraRunIdOf(row.key),
  status: row.status,
  resourceId: row.resource_id,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** A page of runs, newest first, of `workflow` or of all; `after` is the last page's `nextAfter`. */
export async function listMastraRuns(
  store: Store,
  query: URLSearchParams,
): Promise<{ items: MastraRunSummary[]; nextAfter: string | null }> {
  const after = query.get("after") || null;
  const workflow = query.get("workflow") || null;
  const from = after === null ? null : decodeAfter(after);
  const s = `"${store.schema}"`;
  // Pages are keyed by the creation time in microseconds, exactly (a Date keeps milliseconds), read
  // back as a time, so that the runs' indexes by time serve the page after.
  const us = "(extract(epoch from r.created_at) * 1000000)::bigint";
  const { rows } = await store.query<RunRow>(
    `select r.key, r.workflow_name, r.state->>'status' as status, r.resource_id, r.created_at,
            r.updated_at, ${us}::text as at_us
       from ${s}.mastra_runs r
      where ($1::text is null or r.workflow_name = $1)
        and ($2::bigint is null
             or (r.created_at, r.key) < (timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3::text collate "C"))
      order by r.created_at desc, r.key desc
      limit $4`,
    [workflow, from?.atUs ?? null, from?.key ?? null, RUNS_PAGE + 1],
  );
  const page = rows.slice(0, RUNS_PAGE);
  const last = page.at(-1);
  return {
    items: page.map(summary),
    nextAfter: rows.length > RUNS_PAGE && last ? encodeAfter([last.at_us, last.key]) : null,
  };
}

/** One run by its workflow and id, with its steps; null when there is none. */
export async function mastraRun(store: Store, query: URLSearchParams): Promise<MastraRunView | null> {
  const workflow = query.get("workflow");
  const runId = query.get("run");
  if (!workflow) throw new ValidationError("workflow is required", { field: "workflow" });
  if (!runId) throw new ValidationError("run is required", { field: "run" });
  const s = `"${store.schema}"`;
  const { rows } = await store.query<
    RunRow & {
      state: Record<string, unknown>;
      parts: { id: string; status: string | null; startedAt: number | null }[] | null;
    }
  >(
    `select r.key, r.workflow_name, r.state->>'status' as status, r.resource_id, r.created_at,
            r.updated_at, '' as at_us, r.state,
            (select json_agg(json_build_object('id', p.part_id, 'status', p.state->>'status',
                      'startedAt', case when jsonb_typeof(p.state->'startedAt') = 'number' then p.state->'startedAt' end)
                    order by p.part_id)
               from ${s}.mastra_run_parts p where p.run_id = r.id) as parts
       from ${s}.mastra_runs r where r.key = $1`,
    [mastraRunKey(workflow, runId)],
  );
  const row = rows[0];
  if (!row) return null;
  const { context, "$flowstore:rows": _rows, ...rest } = row.state as Record<string, unknown>;
  const inline = typeof context === "object" && context !== null ? Object.entries(context) : [];
  const steps = [
    ...inline.map(([id, value]) => ({ id, status: statusOf(value), inRow: false, at: startOf(value) })),
    ...(row.parts ?? []).map((part) => ({
      id: part.id.replace(/^context\//, ""),
      status: part.status,
      inRow: true,
      at: part.startedAt,
    })),
  ];
  // The input first, then the steps in the order they started (those that say), then by name.
  const rank = (step: { id: string; at: number | null }) =>
    step.id === "input" ? -1 : (step.at ?? Infinity);
  steps.sort((a, b) => rank(a) - rank(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { ...summary(row), steps: steps.map(({ at: _at, ...step }) => step), snapshot: rest };
}

/** When a step started, as Mastra's step results say (ms since the epoch); null when it does not say. */
function startOf(entry: unknown): number | null {
  const at = (entry as { startedAt?: unknown } | null)?.startedAt;
  return typeof at === "number" ? at : null;
}

function statusOf(entry: unknown): string | null {
  const status = (entry as { status?: unknown } | null)?.status;
  return typeof status === "string" ? status : null;
}

function encodeAfter(last: [string, string]): string {
  return Buffer.from(JSON.stringify(last)).toString("base64url");
}

function decodeAfter(after: string): { atUs: string; key: string } {
  try {
    const [atUs, key] = JSON.parse(Buffer.from(after, "base64url").toString()) as unknown[];
    if (typeof atUs !== "string" || !/^\d{1,18}$/.test(atUs) || typeof key !== "string") {
      throw new Error("not a cursor");
    }
    return { atUs, key };
  } catch {
    throw new ValidationError("after is not one a page of runs gave", { field: "after" });
  }
}
