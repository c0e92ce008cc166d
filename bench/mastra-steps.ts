/**
 * A Mastra run's five persists one step at a time (the mastra suite's `persist x1` line makes runs and
 * steps them through the same way, a step of every run before the next step): each side makes its
 * runs, then takes them through steps 2 to 5, at one caller, the two sides in turn step by step (the
 * first alternating). Beside each step's rate, the server's own count of the step's updates kept HOT
 * (written in place, with no new entry in any index), read from pg_stat_user_tables once the step's
 * writes show there: an update that changes an indexed column (on @mastra/pg, a run's status) writes an
 * entry in each index that holds the row.
 */
import { randomUUID } from "node:crypto";
import type { WorkflowsStorage } from "@mastra/core/storage";
import pg from "pg";
import { type BenchContext, log, table } from "./lib.js";
import { snapshot } from "./mastra.js";
import { flowstoreSide, type MastraSide, mastraPgSide, POOL } from "./mastra-sides.js";

/** The tables each side keeps its runs in, for the server's counts of their writes. */
const RUN_TABLES: Record<string, string> = {
  [flowstoreSide.name]: `schemaname = '${flowstoreSide.schema}' and relname = 'mastra_runs'`,
  [mastraPgSide.name]: `schemaname = '${mastraPgSide.schema}' and relname = 'mastra_workflow_snapshot'`,
};

interface Writes {
  written: number;
  hot: number;
}

/**
 * The server's counts of rows written (inserted or updated) and updated HOT in a side's run tables,
 * once they show at least `atLeast` written: a backend reports its counts at most once a second, and
 * within ten seconds of going idle.
 */
async function writes(client: pg.Client, side: string, atLeast: number): Promise<Writes> {
  const query = `select coalesce(sum(n_tup_ins + n_tup_upd), 0)::int as written,
                        coalesce(sum(n_tup_hot_upd), 0)::int as hot
                   from pg_stat_user_tables where ${RUN_TABLES[side]}`;
  for (let tries = 0; ; tries++) {
    const row = (await client.query<Writes>(query)).rows[0] as Writes;
    if (row.written >= atLeast || tries === 60) return row;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

interface Opened {
  side: MastraSide;
  workflows: WorkflowsStorage;
  stats: pg.Client;
  ids: string[];
  /** The rows written to the side's run tables so far: one for each persist. */
  written: number;
  close(): Promise<void>;
  url: string;
}

async function open(context: BenchContext, side: MastraSide, runs: number): Promise<Opened> {
  const url = await context.freshDatabase();
  const opened = await side.open(url);
  const stats = new pg.Client({ connectionString: url });
  await stats.connect();
  return {
    side,
    workflows: (await opened.storage.getStore("workflows")) as WorkflowsStorage,
    stats,
    ids: Array.from({ length: runs }, () => randomUUID()),
    written: 0,
    close: async () => {
      await stats.end();
      await opened.close();
    },
    url,
  };
}

export async function run(context: BenchContext): Promise<void> {
  const runs = Math.max(50, Math.round(800 * context.scale));
  log(`A Mastra run's five persists one step at a time: ${runs} runs a side, each step of every run`);
  log(`before the next, at one caller; each side a pool of ${POOL}, durable commits; the sides in turn.`);
  const sides = [await open(context, flowstoreSide, runs), await open(context, mastraPgSide, runs)];
  try {
    // Warmed: each side's code compiled and its statements prepared, with runs of its own.
    for (const opened of sides) {
      for (let i = 0; i < 200; i++) {
        const run = randomUUID();
        for (let step = 1; step <= 5; step++) {
          await opened.workflows.persistWorkflowSnapshot({
            workflowName: "warm-up",
            runId: run,
            snapshot: snapshot(run, step),
          });
          opened.written++;
        }
      }
    }
    const rows: Record<string, string | number>[] = [];
    for (let step = 1; step <= 5; step++) {
      const row: Record<string, string | number> = { step: step === 1 ? "1, the run made" : step };
      for (const opened of step % 2 ? sides : [...sides].reverse()) {
        const name = opened.side.name;
        const before = await writes(opened.stats, name, opened.written);
        const began = performance.now();
        for (const run of opened.ids) {
          await opened.workflows.persistWorkflowSnapshot({
            workflowName: "bench",
            runId: run,
            snapshot: snapshot(run, step),
          });
        }
        row[`${name} persists/s`] = runs / ((performance.now() - began) / 1000);
        opened.written += runs;
        const after = await writes(opened.stats, name, opened.written);
        row[`${name} HOT`] = step === 1 ? "-" : `${Math.round((100 * (after.hot - before.hot)) / runs)}%`;
      }
      rows.push(row);
    }
    table("a run's persists by step", rows);
  } finally {
    for (const opened of sides) {
      await opened.close();
      await context.dropDatabase(opened.url);
    }
  }
}
