/**
 * What a Mastra run's first persist costs at one caller (a run made: the mastra suite's `persist x1`
 * line makes one in five), found by taking the parts of mastra_runs away one at a time, each side on a
 * database of its own on one server, in turns of 50 calls (the first alternating by round):
 * - @mastra/pg: PostgresStore's persistWorkflowSnapshot of a new run;
 * - flowstore: FlowstoreMastraStorage's, the run's row and its count made;
 * - the count's trigger doing nothing: mastra_count_run (migration 0046) replaced by a function that
 *   returns at once, so that the trigger's call is paid and its count is not;
 * - no count trigger: mastra_run_made disabled;
 * - no list indexes either: the runs' indexes by workflow and by time dropped (the key's stays);
 * - the floor: raw `pg`'s insert of one row (key, snapshot jsonb), the mastra suite's floor table.
 * The sides without a part alter their own database's schema, which the store needs whole (the counts
 * that listWorkflowRuns sums, the indexes its pages read): they measure what each part costs, not a
 * way to run the store.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import pg from "pg";
import type { BenchContext } from "./lib.js";
import { snapshot } from "./mastra.js";
import { flowstoreSide, inTurns, mastraPgSide, POOL, roundDatabases, sidesByRound } from "./mastra-sides.js";

const TURN = 50;
const S = flowstoreSide.schema;

const NO_COUNT = `create or replace function ${S}.mastra_count_run() returns trigger language plpgsql
  as $$ begin return null; end $$`;
const NO_TRIGGER = `alter table ${S}.mastra_runs disable trigger mastra_run_made`;
const NO_LIST_INDEXES = `drop index ${S}.mastra_runs_workflow, ${S}.mastra_runs_created`;

/** flowstore's sides: each its schema's changes, made once the first run is written. */
const FLOWSTORE_SIDES: [string, string[]][] = [
  ["flowstore", []],
  ["the count's trigger doing nothing", [NO_COUNT]],
  ["no count trigger", [NO_TRIGGER]],
  ["no list indexes either", [NO_TRIGGER, NO_LIST_INDEXES]],
];

type Create = () => Promise<unknown>;

/** One round: every side's creates in turns; creates/s by side. */
async function round(context: BenchContext, first: number): Promise<Map<string, number>> {
  const calls = Math.max(TURN * 4, Math.round(1_000 * context.scale));
  const { closing, database, end } = roundDatabases(context);
  try {
    const made = (workflows: WorkflowsStorage): Create => {
      return () => {
        const runId = randomUUID();
        return workflows.persistWorkflowSnapshot({
          workflowName: "bench",
          runId,
          snapshot: snapshot(runId, 1),
        });
      };
    };
    const sides: [string, Create][] = [];
    const mastra = await mastraPgSide.open(await database());
    closing.push(() => mastra.close());
    sides.push(["@mastra/pg", made((await mastra.storage.getStore("workflows")) as WorkflowsStorage)]);
    for (const [name, changes] of FLOWSTORE_SIDES) {
      const url = await database();
      const side = await flowstoreSide.open(url);
      closing.push(() => side.close());
      const create = made((await side.storage.getStore("workflows")) as WorkflowsStorage);
      await create();
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      for (const change of changes) await admin.query(change);
      await admin.end();
      sides.push([name, create]);
    }
    const floor = new pg.Pool({ connectionString: await database(), max: POOL });
    floor.on("error", () => {});
    closing.push(() => floor.end());
    await floor.query("create table floor_runs (key text primary key, snapshot jsonb not null)");
    sides.push([
      "raw pg floor",
      () => {
        const key = randomUUID();
        return floor.query({
          name: "floor-insert",
          text: "insert into floor_runs values ($1, $2)",
          values: [key, JSON.stringify(snapshot(key, 1))],
        });
      },
    ]);
    // Warmed: each side's code compiled and its statements prepared before the timed turns.
    for (const [, create] of sides) for (let k = 0; k < TURN * 4; k++) await create();
    return await inTurns(sides, calls, TURN, first);
  } finally {
    await end();
  }
}

export async function run(context: BenchContext): Promise<void> {
  await sidesByRound(
    context,
    {
      what: "A Mastra run's first persist at one caller, the parts of its table taken away one at a time,",
      turn: TURN,
      title: "a run made, by part",
      unit: "creates",
    },
    round,
  );
}
