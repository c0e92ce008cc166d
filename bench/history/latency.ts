/**
 * The hot paths of the history bench, timed one call at a time on two stores that take turns in blocks
 * of rounds (so a machine that slows for a while slows both alike): a run is started (not timed), then
 * timed, each on its own: an event append, a step record, executions.get, claim + complete (keeping the
 * job's record, so it writes into jobs_history), and a history read (events.list) of a seeded run
 * picked at random, which on the full store is one of a million.
 */
import { performance } from "node:perf_hooks";
import type { Store } from "../../src/index.js";

export const OPERATIONS = [
  "append",
  "step record",
  "executions.get",
  "claim+complete",
  "history read",
] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface LatencySide {
  readonly store: Store;
  /** A seeded run's id, at random. */
  readonly seededRun: () => string;
  readonly times: Record<Operation, number[]>;
}

export function side(store: Store, seededRun: () => string): LatencySide {
  const times = Object.fromEntries(OPERATIONS.map((op) => [op, [] as number[]])) as Record<
    Operation,
    number[]
  >;
  return { store, seededRun, times };
}

async function timed(times: number[], operation: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  await operation();
  times.push(performance.now() - started);
}

/** One round on one side. */
export async function round(s: LatencySide, i: number): Promise<void> {
  const { store, times } = s;
  const { execution } = await store.executions.start({ name: "probe", status: "running", input: { i } });
  const id = execution.id;
  await timed(times.append, () =>
    store.events.append(id, [{ type: "step_completed", payload: { step: 1, result: "r".repeat(120) } }]),
  );
  await timed(times["step record"], () =>
    store.steps.record({
      executionId: id,
      number: 0,
      name: "charge",
      output: { value: i, note: "s".repeat(120) },
    }),
  );
  await timed(times["executions.get"], () => store.executions.get(id));
  const jobId = await store.jobs.enqueue({ queue: "probe", name: "charge", payload: { i }, executionId: id });
  await timed(times["claim+complete"], async () => {
    const [job] = await store.jobs.claim({ queue: "probe", workerId: "bench", limit: 1 });
    if (job?.id !== jobId) throw new Error(`the claim returned ${job?.id}, not ${jobId}`);
    await store.jobs.complete(job, { keepCompleted: true });
  });
  const seeded = s.seededRun();
  await timed(times["history read"], async () => {
    const page = await store.events.list(seeded);
    if (page.items.length === 0) throw new Error(`run ${seeded} has no history`);
  });
}

export interface PagesPerRead {
  /** Pages found in shared buffers, per read. */
  hit: number;
  /** Pages read from the kernel (its cache or the disk), per read. */
  read: number;
}

/**
 * The pages a history read of a seeded run touches, averaged over `reads` runs picked at random: the
 * read's statement (as events.list sends it) under EXPLAIN (ANALYZE, BUFFERS), the plan's own counts.
 */
export async function pagesPerRead(s: LatencySide, schema: string, reads: number): Promise<PagesPerRead> {
  const total = { hit: 0, read: 0 };
  for (let i = 0; i < reads; i++) {
    const { rows } = await s.store.query<{ "QUERY PLAN": [{ Plan: Record<string, number> }] }>(
      `explain (analyze, buffers, format json)
       select * from "${schema}".events where execution_id = $1 order by seq asc limit 101`,
      [s.seededRun()],
    );
    const plan = rows[0]?.["QUERY PLAN"][0].Plan ?? {};
    total.hit += plan["Shared Hit Blocks"] ?? 0;
    total.read += plan["Shared Read Blocks"] ?? 0;
  }
  return { hit: total.hit / reads, read: total.read / reads };
}
