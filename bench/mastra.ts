/**
 * Mastra's storage, FlowstoreMastraStorage against @mastra/pg's PostgresStore, on one server in one run,
 * each side on a fresh database every round with a pool of the same size (10):
 * - persist: Mastra's default engine persisting a run after each of its five steps (the whole
 *   snapshot each time, a few kB), then load: a run's snapshot read back;
 * - step update at 1 MB: the same persist of a run whose input is 1 MB (of text that does not
 *   compress), one step changed each time;
 * - list at 100,000 runs: a page of 20 runs of a workflow (a random page of the first five), as the
 *   studio polls it, with 100,000 runs stored (seeded through each store's own persist);
 * - messages: a thread's 1,000 messages saved two at a time (a user's turn and the answer), then the
 *   last 40 listed, newest first, as an agent's memory reads them;
 * - resumes: a real workflow (a step, two in parallel, one that suspends, one after) started and
 *   suspended, then 8 resumes of it at once, each through its own Mastra: how many of them ran the
 *   step after the suspension (1 is right), and the time from the start to the resumed run's end;
 * Beside them, in turn with them, what one persist and one load cost any store on this server (see
 * floorRound()).
 * Each side and the floor first warm up (warmUp()): untimed persists and loads of runs of their own.
 * Sequential (1 caller) and concurrent (8 callers) where both make sense; operations/s, median and 99th
 * percentile of one call; the median of BENCH_ROUNDS rounds (default 3), the two sides taking each
 * operation in turn (the first alternating by round; persist and load a few milliseconds at a time,
 * see TURN_PER_CALLER), each on its own database. @mastra/core needs
 * Node.js 22.13: bench/run.ts runs this suite on Node.js 22 when the Node.js running npm is older.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Mastra } from "@mastra/core";
import type { MemoryStorage, WorkflowsStorage } from "@mastra/core/storage";
import pg from "pg";
import { approvalWorkflow } from "../test/fixtures/mastra-approval.js";
import {
  type BenchContext,
  benchRounds,
  log,
  median,
  percentiles,
  type Row,
  table,
  timedCalls,
  timedTurns,
} from "./lib.js";
import { flowstoreSide, type MastraSide, mastraPgSide, POOL } from "./mastra-sides.js";

const CALLERS = 8;
/**
 * The persist and load lines are taken in turns of this many calls per caller, the two sides and the
 * floor one turn each in turn (timedTurns): a line of 1,000 calls lasts a fifth of a second to a
 * second, and measured whole, one side's line could fall in a slower second of the machine than the
 * other's. A turn lasts a few milliseconds (at 8 callers, long enough for each to make 25 calls).
 */
const TURN_PER_CALLER = 25;
const flowstore = flowstoreSide;
const mastraPg = mastraPgSide;

interface Figures {
  perSecond: number;
  p50: number;
  p99: number;
}

/** A run's snapshot after `steps` of its five steps, Mastra's default engine's shape. */
export function snapshot(
  runId: string,
  steps: number,
  input: unknown = { order: 42, items: ["a", "b", "c"] },
) {
  const context: Record<string, unknown> = { input };
  for (let s = 0; s < steps; s++) {
    context[`step-${s}`] = {
      status: "success",
      payload: { previous: s },
      output: { value: s, note: `result of step ${s}`, tags: ["x", "y"] },
      startedAt: 1_700_000_000_000 + s,
      endedAt: 1_700_000_000_100 + s,
    };
  }
  return {
    runId,
    status: steps < 5 ? "running" : "success",
    value: {},
    context,
    serializedStepGraph: Array.from({ length: 5 }, (_, s) => ({
      type: "step",
      step: { id: `step-${s}`, description: `step ${s}` },
    })),
    activePaths: [steps],
    activeStepsPath: { [`step-${steps}`]: [steps] },
    suspendedPaths: {},
    resumeLabels: {},
    waitingPaths: {},
    requestContext: { tenant: "acme" },
    timestamp: Date.now(),
  } as never;
}

/**
 * Untimed calls made before a round's first timed one, the same on each side and on the floor: 2,500
 * persists (500 runs' five steps) and 2,500 loads of runs of their own, at 1 caller and again at 8. The
 * lines measure a store as a running process has it: its code compiled by V8, its connections'
 * statements prepared, the server's caches of its tables filled. A line of 1,000 calls lasts a fifth of
 * a second to a second; made first, in a fresh process on fresh connections, it measured V8's compiler
 * and a first connection's planning more than either store. Measured in blocks of 1,000 calls at one
 * caller, the process's CPU time per persist or load settles after 4,000 to 5,000 calls, on both
 * sides alike (a persist from 610 µs to about 200 on flowstore, from 444 to about 100 on @mastra/pg).
 */
async function warmUp(
  scale: number,
  persist: (run: string, steps: number) => Promise<unknown>,
  load: (run: string) => Promise<unknown>,
): Promise<void> {
  const runs = Math.max(CALLERS, Math.round(500 * scale));
  for (const concurrency of [1, CALLERS]) {
    const ids = Array.from({ length: runs }, () => `warm-up-${randomUUID()}`);
    await timedCalls(runs * 5, concurrency, (i) =>
      persist(ids[i % runs] as string, Math.floor(i / runs) + 1),
    );
    await timedCalls(runs * 5, concurrency, (i) => load(ids[i % runs] as string));
  }
}

/**
 * A round of one side's operations, yielding after each measured one (after each turn of the persist
 * and load lines): run() takes the two sides'
 * operations in turn, so that each pair is measured within seconds of each other and a slower minute
 * of the machine weighs on both alike. The list at 100,000 runs is one step with their seeding, and
 * the last: the runs are listed as soon as written, with no vacuum between, and the side's database
 * is dropped as soon as it ends, so that no vacuum of it runs while the other side lists.
 */
async function* round(
  side: MastraSide,
  url: string,
  scale: number,
): AsyncGenerator<void, Map<string, Figures & { extra?: string }>> {
  const { storage, close } = await side.open(url);
  const figures = new Map<string, Figures & { extra?: string }>();
  try {
    const workflows = (await storage.getStore("workflows")) as WorkflowsStorage;
    const memory = (await storage.getStore("memory")) as MemoryStorage;
    await warmUp(
      scale,
      (run, steps) =>
        workflows.persistWorkflowSnapshot({
          workflowName: "warm-up",
          runId: run,
          snapshot: snapshot(run, steps),
        }),
      (run) => workflows.loadWorkflowSnapshot({ workflowName: "warm-up", runId: run }),
    );
    for (const [label, concurrency] of [
      ["x1", 1],
      [`x${CALLERS}`, CALLERS],
    ] as const) {
      const runs = Math.max(CALLERS, Math.round(200 * scale));
      const ids = Array.from({ length: runs }, () => randomUUID());
      figures.set(
        `persist ${label}`,
        // A run's five persists come `runs` operations apart: each is done before the next begins.
        yield* timedTurns(runs * 5, concurrency, TURN_PER_CALLER * concurrency, async (i) => {
          const run = ids[i % runs] as string;
          await workflows.persistWorkflowSnapshot({
            workflowName: "bench",
            runId: run,
            snapshot: snapshot(run, Math.floor(i / runs) + 1),
          });
        }),
      );
      figures.set(
        `load ${label}`,
        yield* timedTurns(runs * 5, concurrency, TURN_PER_CALLER * concurrency, async (i) => {
          const run = ids[i % runs] as string;
          const loaded = await workflows.loadWorkflowSnapshot({ workflowName: "bench", runId: run });
          if (!loaded || Object.keys(loaded.context).length !== 6)
            throw new Error(`${side.name}: load read a wrong snapshot`);
        }),
      );
      // A megabyte of text that does not compress (as a document or a model's long output), not one
      // PostgreSQL would squeeze to a few kilobytes.
      const big = { document: randomBytes(786_432).toString("base64") };
      const bigRuns = Array.from({ length: concurrency }, () => randomUUID());
      for (const run of bigRuns) {
        await workflows.persistWorkflowSnapshot({
          workflowName: "big",
          runId: run,
          snapshot: snapshot(run, 0, big),
        });
      }
      const updates = Math.round(40 * scale) * concurrency;
      figures.set(
        `step update at 1 MB ${label}`,
        await timedCalls(updates, concurrency, async (i) => {
          const run = bigRuns[i % concurrency] as string;
          const steps = (Math.floor(i / concurrency) % 5) + 1;
          await workflows.persistWorkflowSnapshot({
            workflowName: "big",
            runId: run,
            snapshot: snapshot(run, steps, big),
          });
        }),
      );
      yield;
    }

    // A thread of 1,000 messages, saved a turn (two messages) at a time, then read as an agent does.
    for (const [label, concurrency] of [
      ["x1", 1],
      [`x${CALLERS}`, CALLERS],
    ] as const) {
      const threads = Array.from({ length: concurrency }, () => randomUUID());
      for (const id of threads) {
        await memory.saveThread({
          thread: { id, resourceId: "user", title: "", createdAt: new Date(), updatedAt: new Date() },
        });
      }
      const turns = Math.round(500 * scale);
      const base = Date.now();
      figures.set(
        `save messages ${label}`,
        await timedCalls(turns * concurrency, concurrency, async (i) => {
          const threadId = threads[i % concurrency] as string;
          const at = base + i * 10;
          await memory.saveMessages({
            messages: ["user", "assistant"].map((role, k) => ({
              id: randomUUID(),
              threadId,
              resourceId: "user",
              role: role as "user",
              createdAt: new Date(at + k),
              content: {
                format: 2,
                parts: [{ type: "text", text: `message ${i} ${role}` }],
                content: `message ${i} ${role}`,
              },
            })),
          });
        }),
      );
      yield;
      figures.set(
        `list messages ${label}`,
        await timedCalls(Math.round(500 * scale) * concurrency, concurrency, async (i) => {
          const listed = await memory.listMessages({
            threadId: threads[i % concurrency] as string,
            perPage: 40,
            orderBy: { field: "createdAt", direction: "DESC" },
          });
          if (listed.messages.length !== Math.min(40, turns * 2))
            throw new Error(`${side.name}: listed ${listed.messages.length}`);
        }),
      );
      yield;
    }

    // Eight resumes of one suspended run at once, each through a Mastra of its own.
    let downstream = 0;
    const trials = Math.max(3, Math.round(20 * scale));
    const mastras = Array.from(
      { length: 8 },
      () =>
        new Mastra({ storage, workflows: { approval: approvalWorkflow(() => downstream++) }, logger: false }),
    );
    // Timed: a run started and suspended, then resumed by the one of the eight that claims it, to its
    // end. The others fail, or wait for the run to leave "running" (Mastra polls every 25 ms), which
    // measures Mastra's poll, not the store.
    const resumed: number[] = [];
    figures.set("start + 8 resumes", {
      ...(await timedCalls(trials, 1, async () => {
        const started = performance.now();
        const run = await mastras[0]?.getWorkflow("approval").createRun({ runId: randomUUID() });
        if ((await run?.start({ inputData: { n: 1 } }))?.status !== "suspended")
          throw new Error("not suspended");
        await Promise.allSettled(
          mastras.map(async (mastra) => {
            const again = await mastra.getWorkflow("approval").createRun({ runId: run?.runId as string });
            const result = await again.resume({ step: "approve", resumeData: { approvedBy: "bench" } });
            if (result.status === "success") resumed.push(performance.now() - started);
            return result;
          }),
        );
      })),
      extra: `${(downstream / trials).toFixed(2)} downstream runs per resumed run`,
    });
    const p50 = median(resumed);
    figures.set("start to resumed run's end", { perSecond: 1000 / p50, p50, p99: percentiles(resumed).p99 });
    yield;

    // A workflow's page of runs, with 100,000 runs stored.
    const stored = Math.round(100_000 * scale);
    const seeded = performance.now();
    await timedCalls(stored, 16, (i) => {
      const run = `seed-${i}`;
      return workflows.persistWorkflowSnapshot({
        workflowName: i % 2 ? "listed" : "other",
        runId: run,
        snapshot: snapshot(run, 5),
      });
    });
    log(
      `  ${side.name}: ${stored.toLocaleString("en-US")} runs seeded in ${Math.round(performance.now() - seeded)} ms`,
    );
    for (const [label, concurrency] of [
      ["x1", 1],
      [`x${CALLERS}`, CALLERS],
    ] as const) {
      figures.set(
        `list at ${stored.toLocaleString("en-US")} runs ${label}`,
        await timedCalls(Math.round(200 * scale) + 20, concurrency, async (i) => {
          const listed = await workflows.listWorkflowRuns({
            workflowName: "listed",
            perPage: 20,
            page: i % 5,
          });
          if (listed.runs.length !== 20 || listed.total < stored / 2)
            throw new Error(`${side.name}: listed ${listed.runs.length} of ${listed.total}`);
        }),
      );
    }
  } finally {
    await close();
  }
  return figures;
}

/**
 * What any store pays here for the persist and the load, whatever it does: a durable upsert of one row
 * holding the snapshot (as JSON) by its key, and the read of that row, by raw `pg` on a pool of the
 * same size. A store can be no faster than these at one call at a time, since each call must make at
 * least that round trip (and, for a write, that commit); only calls that share a statement (and a
 * commit) can pass them when many are in flight. It takes its turn with the two sides, yielding where
 * round() does (nothing in the step update's place): each figure is taken beside the sides' own, not
 * at the round's end, after 200,000 runs were seeded and dropped and the server was busy writing them.
 */
async function* floorRound(url: string, scale: number): AsyncGenerator<void, Map<string, Figures>> {
  const pool = new pg.Pool({ connectionString: url, max: POOL });
  pool.on("error", () => {});
  const figures = new Map<string, Figures>();
  try {
    await pool.query("create table floor_runs (key text primary key, snapshot jsonb not null)");
    const upsert =
      "insert into floor_runs values ($1, $2) on conflict (key) do update set snapshot = excluded.snapshot";
    const read = "select snapshot from floor_runs where key = $1";
    await warmUp(
      scale,
      (run, steps) =>
        pool.query({
          name: "floor-upsert",
          text: upsert,
          values: [run, JSON.stringify(snapshot(run, steps))],
        }),
      (run) => pool.query({ name: "floor-load", text: read, values: [run] }),
    );
    const runs = Math.max(CALLERS, Math.round(200 * scale));
    for (const [label, concurrency] of [
      ["x1", 1],
      [`x${CALLERS}`, CALLERS],
    ] as const) {
      figures.set(
        `persist ${label}`,
        yield* timedTurns(runs * 5, concurrency, TURN_PER_CALLER * concurrency, (i) =>
          pool.query({
            name: "floor-upsert",
            text: upsert,
            values: [
              `${label}-${i % runs}`,
              JSON.stringify(snapshot(String(i % runs), Math.floor(i / runs) + 1)),
            ],
          }),
        ),
      );
      figures.set(
        `load ${label}`,
        yield* timedTurns(runs * 5, concurrency, TURN_PER_CALLER * concurrency, async (i) => {
          const { rows } = await pool.query({
            name: "floor-load",
            text: read,
            values: [`${label}-${i % runs}`],
          });
          if (!rows[0]) throw new Error("floor: no row");
        }),
      );
      yield; // the step update at 1 MB's turn
    }
  } finally {
    await pool.end();
  }
  return figures;
}

export async function run(context: BenchContext): Promise<void> {
  const rounds = benchRounds(1);
  log("@mastra/pg: PostgresStore on a pg Pool of 10, init() run first (its tables and default indexes);");
  log("flowstore: FlowstoreMastraStorage on a store with a pool of 10; both with durable commits.");
  log(
    "Each side, and the raw pg floor, first makes 5,000 untimed persists and 5,000 loads (half at 1 caller, half at 8) of runs of its own: the lines measure a store warm, as a running process has it.",
  );
  const results = new Map<string, Map<string, (Figures & { extra?: string })[]>>();
  const floors = new Map<string, Figures[]>();
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [flowstore, mastraPg] : [mastraPg, flowstore];
    log(
      `round ${r + 1}: ${order.map((side) => side.name).join(", then ")}, then raw pg, operation by operation`,
    );
    // The raw pg floor takes its turn after the two sides, operation by operation (see floorRound).
    const running: {
      url: string;
      steps: AsyncGenerator<void, Map<string, Figures & { extra?: string }>>;
      ended(figures: Map<string, Figures & { extra?: string }>): void;
    }[] = [];
    for (const side of order) {
      const url = await context.freshDatabase();
      running.push({
        url,
        steps: round(side, url, context.scale),
        ended(figures) {
          for (const [op, f] of figures) {
            const bySide = results.get(op) ?? new Map();
            bySide.set(side.name, [...(bySide.get(side.name) ?? []), f]);
            results.set(op, bySide);
          }
        },
      });
    }
    const floorUrl = await context.freshDatabase();
    running.push({
      url: floorUrl,
      steps: floorRound(floorUrl, context.scale),
      ended(figures) {
        for (const [op, f] of figures) floors.set(op, [...(floors.get(op) ?? []), f]);
      },
    });
    const ended = new Set<string>();
    let left = running;
    try {
      // One operation of each in turn; a side's store stays open (its generator paused) meanwhile.
      while (left.length > 0) {
        const next: typeof left = [];
        for (const entry of left) {
          const step = await entry.steps.next();
          if (!step.done) {
            next.push(entry);
            continue;
          }
          ended.add(entry.url);
          await context.dropDatabase(entry.url);
          entry.ended(step.value);
        }
        left = next;
      }
    } finally {
      // A round stopped by a failure: the others' stores are closed before their databases go.
      for (const { steps, url } of running.filter((entry) => !ended.has(entry.url))) {
        await steps.return(new Map()).catch(() => {});
        await context.dropDatabase(url);
      }
    }
  }
  const rows: Row[] = [];
  /** Each side's median operations/s by operation, for the floor's table too. */
  const medians = new Map<string, { ours: number; theirs: number }>();
  for (const [op, bySide] of results) {
    const pick = (name: string) => {
      const list = bySide.get(name) ?? [];
      return {
        perSecond: median(list.map((f) => f.perSecond)),
        p50: median(list.map((f) => f.p50)),
        extra: list.at(-1)?.extra,
      };
    };
    const ours = pick(flowstore.name);
    const theirs = pick(mastraPg.name);
    medians.set(op, { ours: ours.perSecond, theirs: theirs.perSecond });
    rows.push({
      operation: op,
      "flowstore ops/s": ours.perSecond,
      "@mastra/pg ops/s": theirs.perSecond,
      ratio: ours.perSecond / theirs.perSecond,
      "p50 flowstore / pg (ms)": `${ours.p50.toFixed(1)} / ${theirs.p50.toFixed(1)}`,
      note: ours.extra ? `flowstore ${ours.extra}; @mastra/pg ${theirs.extra}` : "",
    });
  }
  table(`Mastra storage, median of ${rounds} round(s)`, rows);
  table(
    "What one call costs any store here: a durable one-row upsert and a read by key (raw pg, pool of 10), taken in turn with the two sides",
    [...floors].map(([op, list]) => {
      const least = median(list.map((f) => f.perSecond));
      const sides = medians.get(op);
      // Each round's own share too: on a small shared machine a round's share moves by as much as a
      // fifth between the rounds of one run, and the median of three can sit on either side of 0.8.
      const ours = results.get(op)?.get(flowstore.name) ?? [];
      const byRound = list.map((f, r) => ((ours[r]?.perSecond ?? Number.NaN) / f.perSecond).toFixed(2));
      return {
        operation: op,
        "raw pg ops/s": least,
        "@mastra/pg / raw pg": (sides?.theirs ?? Number.NaN) / least,
        "flowstore / raw pg": (sides?.ours ?? Number.NaN) / least,
        "flowstore / raw pg, each round": byRound.join("  "),
      };
    }),
  );
}
