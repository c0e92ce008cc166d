/**
 * The two Mastra storages the Mastra suites (bench/mastra*.ts) compare, each opened on a database of
 * its own with a pool of 10: flowstore's, and @mastra/pg's PostgresStore with its init() run first
 * (its tables and default indexes). `schema` is where each keeps its Mastra tables.
 */
import type { MastraCompositeStore } from "@mastra/core/storage";
import { PostgresStore } from "@mastra/pg";
import pg from "pg";
import { FlowstoreMastraStorage } from "../src/adapters/mastra/index.js";
import { openStore } from "../src/index.js";
import { type BenchContext, benchRounds, log, median, table } from "./lib.js";

export const POOL = 10;

export interface MastraSide {
  name: string;
  schema: string;
  open(url: string): Promise<{ storage: MastraCompositeStore; close(): Promise<void> }>;
}

export const flowstoreSide: MastraSide = {
  name: "flowstore",
  schema: "flowstore",
  async open(url) {
    const store = await openStore({ connection: url, pool: { max: POOL } });
    return { storage: new FlowstoreMastraStorage({ id: "bench", store }), close: () => store.close() };
  },
};

export const mastraPgSide: MastraSide = {
  name: "@mastra/pg",
  schema: "public",
  async open(url) {
    const pool = new pg.Pool({ connectionString: url, max: POOL });
    pool.on("error", () => {});
    const storage = new PostgresStore({ id: "bench", pool });
    await storage.init();
    return { storage, close: () => pool.end() };
  },
};

/**
 * A suite that takes a Mastra operation apart side by side (mastra-layers, mastra-creates), once its
 * `round` is written: what it measures, then benchRounds' rounds of `round` (each side's calls/s;
 * `first` alternates which side starts the turns), then each side's median per second, in µs, and
 * against the sides named "@mastra/pg" and "raw pg floor".
 */
export async function sidesByRound(
  context: BenchContext,
  suite: { what: string; turn: number; title: string; unit: string },
  round: (context: BenchContext, first: number) => Promise<Map<string, number>>,
): Promise<void> {
  const rounds = benchRounds(1);
  log(suite.what);
  log(
    `in turns of ${suite.turn} calls; each side a pool of ${POOL}, durable commits; the median of ${rounds} round(s).`,
  );
  const results = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const [name, perSecond] of await round(context, r)) {
      results.set(name, [...(results.get(name) ?? []), perSecond]);
    }
  }
  const perSecond = new Map([...results].map(([name, list]) => [name, median(list)]));
  const mastra = perSecond.get("@mastra/pg") as number;
  const floor = perSecond.get("raw pg floor") as number;
  table(
    suite.title,
    [...perSecond].map(([name, value]) => ({
      side: name,
      [`${suite.unit}/s`]: value,
      "µs each": 1e6 / value,
      "vs @mastra/pg": value / mastra,
      "of the floor": value / floor,
    })),
  );
}

/**
 * Calls 0 to `calls` of every side, in turns of `turn` calls a side, the order of the sides reversed
 * at every turn (`first` odd: reversed from the first), so that a slower minute of the machine weighs
 * on each alike; each side's calls/s over its turns. With `callers`, that many make a turn's calls at
 * once, each taking the next call when its last ends.
 */
export async function inTurns(
  sides: readonly (readonly [string, (k: number) => Promise<unknown>])[],
  calls: number,
  turn: number,
  first: number,
  callers = 1,
): Promise<Map<string, number>> {
  const elapsed = new Map<string, number>();
  for (let start = 0, at = first; start < calls; start += turn, at++) {
    const order = at % 2 ? [...sides].reverse() : sides;
    const end = Math.min(start + turn, calls);
    for (const [name, call] of order) {
      const began = performance.now();
      let next = start;
      await Promise.all(
        Array.from({ length: callers }, async () => {
          while (next < end) await call(next++);
        }),
      );
      elapsed.set(name, (elapsed.get(name) ?? 0) + performance.now() - began);
    }
  }
  return new Map([...elapsed].map(([name, ms]) => [name, calls / (ms / 1000)]));
}

/**
 * A round's databases and what it opened on them: `database()` makes a fresh one; `end()` closes what
 * `closing` holds (every one, even when one fails), then drops the databases, as autovacuum on them
 * would take the next round's CPU.
 */
export function roundDatabases(context: BenchContext) {
  const urls: string[] = [];
  const closing: (() => Promise<unknown>)[] = [];
  return {
    closing,
    async database(): Promise<string> {
      const url = await context.freshDatabase();
      urls.push(url);
      return url;
    },
    async end(): Promise<void> {
      await Promise.allSettled(closing.map((close) => close()));
      for (const url of urls) await context.dropDatabase(url);
    },
  };
}
