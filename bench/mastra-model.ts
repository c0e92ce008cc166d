/**
 * What the way a Mastra run is kept costs its persists: a run's five persists (the mastra suite's
 * `persist` lines: a step of every run before the next step, the last changing the run's status), at
 * one caller and at eight, each side on a database of its own on one server, in turns of 50 calls (the
 * first alternating by round):
 * - @mastra/pg: PostgresStore's persistWorkflowSnapshot;
 * - flowstore: FlowstoreMastraStorage's, a run a row of mastra_runs (migration 0046);
 * - a table of runs: raw `pg`'s upsert of a run into a table of Mastra's runs of the same shape, made
 *   here: by key, with what a list of them reads (workflow, resource, times; indexed by workflow and by
 *   creation time, as listWorkflowRuns pages them) and a count of each workflow's runs kept by a
 *   trigger, its pages 30% free so that every step's update stays HOT (no index holds the status);
 * - the floor: raw `pg`'s one-row upsert of (key, snapshot jsonb), the mastra suite's floor.
 * The table of runs is a statement, not a store: flowstore against it is the adapter's code and what
 * it keeps beside the run (its context's big entries apart, its resource). Kept as executions, as they
 * were before migration 0046, flowstore's runs came out about even with @mastra/pg's here, and the
 * table of runs 1.6 times (docs/benchmarks.md).
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import pg from "pg";
import type { BenchContext } from "./lib.js";
import { snapshot } from "./mastra.js";
import { flowstoreSide, inTurns, mastraPgSide, POOL, roundDatabases, sidesByRound } from "./mastra-sides.js";

const TURN = 50;
const CALLERS = 8;

const RUNS_TABLE = [
  `create table runs (
    key text collate "C" primary key, workflow_name text not null, run_id text not null,
    resource_id text, status text not null, snapshot jsonb not null, version bigint not null default 1,
    created_at timestamptz not null default now(), updated_at timestamptz not null default now()
  ) with (fillfactor = 70)`,
  "create index runs_by_workflow on runs (workflow_name, created_at desc, key)",
  "create index runs_by_time on runs (created_at desc, key)",
  `create table run_counts (workflow_name text, slot integer, runs bigint not null,
    primary key (workflow_name, slot))`,
  `create function count_run() returns trigger language plpgsql as $$
  begin
    insert into run_counts as c values (new.workflow_name, pg_backend_pid() % 64, 1)
    on conflict (workflow_name, slot) do update set runs = c.runs + 1;
    return null;
  end $$`,
  "create trigger run_made after insert on runs for each row execute function count_run()",
];

const UPSERT_RUN = `insert into runs as r (key, workflow_name, run_id, resource_id, status, snapshot)
  values ($1, $2, $3, $4, $5, $6::jsonb)
  on conflict (key) do update set status = excluded.status, snapshot = excluded.snapshot,
    resource_id = coalesce(excluded.resource_id, r.resource_id), version = r.version + 1, updated_at = now()`;

type Persist = (runId: string, steps: number) => Promise<unknown>;

/** One round at `callers`: every side's five persists of its runs in turns; persists/s by side. */
async function round(context: BenchContext, first: number, callers: number): Promise<Map<string, number>> {
  const runs = Math.max(TURN * 2, Math.round(200 * context.scale));
  const { closing, database, end } = roundDatabases(context);
  const pool = async (setUp: string[]) => {
    const opened = new pg.Pool({ connectionString: await database(), max: POOL });
    opened.on("error", () => {});
    closing.push(() => opened.end());
    for (const statement of setUp) await opened.query(statement);
    return opened;
  };
  try {
    const viaStorage = (workflows: WorkflowsStorage): Persist => {
      return (runId, steps) =>
        workflows.persistWorkflowSnapshot({ workflowName: "bench", runId, snapshot: snapshot(runId, steps) });
    };
    const mastra = await mastraPgSide.open(await database());
    closing.push(() => mastra.close());
    const flowstore = await flowstoreSide.open(await database());
    closing.push(() => flowstore.close());
    const table = await pool(RUNS_TABLE);
    const floor = await pool(["create table floor_runs (key text primary key, snapshot jsonb not null)"]);
    const sides: [string, Persist][] = [
      ["@mastra/pg", viaStorage((await mastra.storage.getStore("workflows")) as WorkflowsStorage)],
      ["flowstore", viaStorage((await flowstore.storage.getStore("workflows")) as WorkflowsStorage)],
      [
        "a table of runs",
        (runId, steps) => {
          const state = snapshot(runId, steps) as { status: string };
          return table.query({
            name: "upsert-run",
            text: UPSERT_RUN,
            values: [`["${runId}","bench"]`, "bench", runId, null, state.status, JSON.stringify(state)],
          });
        },
      ],
      [
        "raw pg floor",
        (runId, steps) =>
          floor.query({
            name: "floor-upsert",
            text: "insert into floor_runs values ($1, $2) on conflict (key) do update set snapshot = excluded.snapshot",
            values: [runId, JSON.stringify(snapshot(runId, steps))],
          }),
      ],
    ];
    // Warmed: each side's code compiled and its statements prepared, with runs of its own, untimed.
    const cycle = (persist: Persist, ids: string[]) => (k: number) =>
      persist(ids[k % ids.length] as string, Math.floor(k / ids.length) + 1);
    await inTurns(
      sides.map(([name, persist]) => [name, cycle(persist, fresh(runs))] as const),
      runs * 5,
      TURN,
      first,
      callers,
    );
    return await inTurns(
      sides.map(([name, persist]) => [name, cycle(persist, fresh(runs))] as const),
      runs * 5,
      TURN,
      first,
      callers,
    );
  } finally {
    await end();
  }
}

const fresh = (runs: number) => Array.from({ length: runs }, () => randomUUID());

export async function run(context: BenchContext): Promise<void> {
  for (const callers of [1, CALLERS]) {
    await sidesByRound(
      context,
      {
        what: `A Mastra run's five persists at ${callers} caller(s): flowstore's, @mastra/pg's, a table of runs by raw pg and the floor,`,
        turn: TURN,
        title: `a run's persists at ${callers} caller(s), by how runs are kept`,
        unit: "persists",
      },
      (context, first) => round(context, first, callers),
    );
  }
}
