/**
 * Where the time of a Mastra persist at one caller goes (the mastra suite's `persist x1` line), found
 * by taking its layers away one at a time, on one server in one run, the sides taking turns of 50 calls
 * (the first alternating) so that a slower minute of the machine weighs on each alike:
 * - @mastra/pg: PostgresStore's persistWorkflowSnapshot;
 * - flowstore: FlowstoreMastraStorage's persistWorkflowSnapshot;
 * - flowstore's statement alone: the statement the adapter sends for a later persist of a run of small
 *   entries it wrote (workflow-sql.ts, plainUpdateSql), prepared, sent by raw `pg` with the snapshot's JSON, no
 *   adapter code in between;
 * - the run's state alone: `update mastra_runs set state = $2 where key = $1`, the same row, nothing
 *   else kept (the time of the update, the run's resource, its context rows);
 * - the floor: raw `pg`'s one-row upsert of (key, snapshot jsonb), the mastra suite's floor.
 * Each run is made and warmed first, untimed; the timed calls are its steps 2 to 5, updates only (the
 * step that ends the run changes its status, as in the mastra suite). A ratio shows what a layer costs:
 * flowstore against its statement alone is the adapter's code; the statement against the state alone is
 * what flowstore keeps beside the state; the state alone against the floor is the run's row.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import pg from "pg";
import { runKey } from "../src/adapters/mastra/runs.js";
import { plainUpdateSql } from "../src/adapters/mastra/workflow-sql.js";
import type { BenchContext } from "./lib.js";
import { snapshot } from "./mastra.js";
import { flowstoreSide, inTurns, mastraPgSide, POOL, sidesByRound } from "./mastra-sides.js";

const TURN = 50;

type Side = (run: number, steps: number) => Promise<unknown>;

/** One round: every side's calls in turns, on fresh databases; operations/s by side. */
async function round(context: BenchContext, first: number): Promise<Map<string, number>> {
  const runs = Math.max(TURN, Math.round(200 * context.scale));
  const flowstoreUrl = await context.freshDatabase();
  const mastraUrl = await context.freshDatabase();
  const floorUrl = await context.freshDatabase();
  const flowstore = await flowstoreSide.open(flowstoreUrl);
  const mastra = await mastraPgSide.open(mastraUrl);
  const raw = new pg.Pool({ connectionString: flowstoreUrl, max: POOL });
  const floor = new pg.Pool({ connectionString: floorUrl, max: POOL });
  raw.on("error", () => {});
  floor.on("error", () => {});
  try {
    const ours = (await flowstore.storage.getStore("workflows")) as WorkflowsStorage;
    const theirs = (await mastra.storage.getStore("workflows")) as WorkflowsStorage;
    await floor.query("create table floor_runs (key text primary key, snapshot jsonb not null)");
    const ids = Array.from({ length: 4 }, () => Array.from({ length: runs }, () => randomUUID()));
    const [viaApi, viaStatement, viaState, viaMastra] = ids as [string[], string[], string[], string[]];
    const persist = (storage: WorkflowsStorage, id: string, steps: number) =>
      storage.persistWorkflowSnapshot({ workflowName: "bench", runId: id, snapshot: snapshot(id, steps) });
    const upsert = (key: string, steps: number) =>
      floor.query({
        name: "floor-upsert",
        text: "insert into floor_runs values ($1, $2) on conflict (key) do update set snapshot = excluded.snapshot",
        values: [key, JSON.stringify(snapshot(key, steps))],
      });
    // Every run made, and each side warmed, by five rounds of its runs' steps.
    for (let pass = 0; pass < 5; pass++) {
      const steps = (pass % 4) + 1;
      for (let i = 0; i < runs; i++) {
        await persist(ours, viaApi[i] as string, steps);
        await persist(ours, viaStatement[i] as string, steps);
        await persist(ours, viaState[i] as string, steps);
        await persist(theirs, viaMastra[i] as string, steps);
        await upsert(String(i), steps);
      }
    }
    const q = `"${flowstoreSide.schema}"`;
    const updated = (result: { rowCount: number | null }) => {
      if (result.rowCount !== 1) throw new Error("the run's row was not updated");
    };
    const sides: [string, Side][] = [
      ["@mastra/pg", (i, steps) => persist(theirs, viaMastra[i] as string, steps)],
      ["flowstore", (i, steps) => persist(ours, viaApi[i] as string, steps)],
      [
        "flowstore's statement alone",
        async (i, steps) => {
          const id = viaStatement[i] as string;
          const key = runKey("bench", id);
          const values = [key, JSON.stringify(snapshot(id, steps)), null, null];
          updated(await raw.query({ name: "statement-alone", text: plainUpdateSql(q), values }));
        },
      ],
      [
        "the run's state alone",
        async (i, steps) => {
          const id = viaState[i] as string;
          updated(
            await raw.query({
              name: "state-alone",
              text: `update ${q}.mastra_runs set state = $2::jsonb where key = $1`,
              values: [runKey("bench", id), JSON.stringify(snapshot(id, steps))],
            }),
          );
        },
      ],
      ["raw pg floor", (i, steps) => upsert(String(i), steps)],
    ];
    const calls = runs * 4;
    return await inTurns(
      sides.map(([name, side]) => [name, (k: number) => side(k % runs, Math.floor(k / runs) + 2)] as const),
      calls,
      TURN,
      first,
    );
  } finally {
    await raw.end();
    await floor.end();
    await flowstore.close();
    await mastra.close();
    for (const url of [flowstoreUrl, mastraUrl, floorUrl]) await context.dropDatabase(url);
  }
}

export async function run(context: BenchContext): Promise<void> {
  await sidesByRound(
    context,
    {
      what: "A Mastra persist at one caller, its layers taken away one at a time (updates: a run's steps 2 to 5),",
      turn: TURN,
      title: "persist x1, by layer",
      unit: "persists",
    },
    round,
  );
}
