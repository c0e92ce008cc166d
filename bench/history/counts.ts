/**
 * Part 5 of the history bench: counts without scans. A queue of 1,000,000 jobs (BENCH_JOBS): a
 * backlog of 900,000 waiting in one queue, 90,000 dead in another, 500 running and ten small queues of
 * 950 each, analyzed as autovacuum would. Times `jobs.stats()` (capped counts through the indexes,
 * estimates above) against the statement it replaced (one GROUP BY over the whole table), and the
 * executions' `statusCounts()` against `countByStatus()` on the runs of part 1 when they are there,
 * and the reads of one scrape of the dashboard's /metrics.
 * Each is the median of five calls, after one unmeasured.
 */
import { performance } from "node:perf_hooks";
import { metricsText } from "../../src/dashboard/metrics.js";
import { openStore, type Store } from "../../src/index.js";
import { type BenchContext, log, median, table } from "../lib.js";

/** The statement jobs.stats ran before: every job grouped by queue. */
const GROUPED = `select queue,
    count(*) filter (where status in ('waiting', 'scheduled', 'blocked'))::int as waiting,
    count(*) filter (where status in ('waiting', 'scheduled') and run_at <= now())::int as ready,
    count(*) filter (where status = 'running')::int as running,
    count(*) filter (where status = 'dead')::int as dead,
    extract(epoch from now() - min(run_at) filter (where status in ('waiting', 'scheduled') and run_at <= now()))::float8 as oldest
  from flowstore.jobs group by queue order by queue`;

async function timed(work: () => Promise<unknown>): Promise<number> {
  await work();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return median(times);
}

/** Fills the jobs table by SQL: what the counts read, without a million enqueues. */
async function seedJobs(store: Store, total: number): Promise<void> {
  const backlog = Math.round(total * 0.9);
  const dead = Math.round(total * 0.09);
  const running = 500;
  const small = Math.floor((total - backlog - dead - running) / 10);
  const insert = (queue: string, status: string, n: number) =>
    store.query(
      `insert into flowstore.jobs (id, queue, name, status, priority, run_at, lease_owner, lease_token, lease_expires_at)
       select gen_random_uuid(), $1, 'job', $2, (g % 3) - 1, now() - (g % 1000) * interval '1 second',
              case when $2 = 'running' then 'w' end, case when $2 = 'running' then gen_random_uuid() end,
              case when $2 = 'running' then now() + interval '5 minutes' end
         from generate_series(1, $3::int) g`,
      [queue, status, n],
    );
  await insert("backlog", "waiting", backlog);
  await insert("flaky", "dead", dead);
  await insert("work", "running", running);
  for (let i = 0; i < 10; i++) await insert(`small-${i}`, "waiting", small);
  await store.query("vacuum analyze flowstore.jobs");
}

export async function measureCounts(context: BenchContext, runs?: Store): Promise<void> {
  const total = Math.max(10_000, Math.round(Number(process.env.BENCH_JOBS ?? 1_000_000) * context.scale));
  const url = await context.freshDatabase();
  const store = await openStore({ connection: url });
  try {
    const started = performance.now();
    await seedJobs(store, total);
    log(
      `\ncounts: ${total.toLocaleString("en-US")} jobs seeded in ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
    const stats = await store.jobs.stats();
    const grouped = (await store.query<{ queue: string; waiting: number; dead: number }>(GROUPED)).rows;
    const backlog = stats.find((s) => s.queue === "backlog");
    const exactBacklog = grouped.find((row) => row.queue === "backlog");
    const rows = [
      {
        counts: "jobs.stats()",
        "ms (median of 5)": await timed(() => store.jobs.stats()),
        "backlog waiting": `~${backlog?.waiting ?? 0}`,
      },
      {
        counts: "GET /metrics's reads (metricsText)",
        "ms (median of 5)": await timed(() => metricsText(store)),
        "backlog waiting": "",
      },
      {
        counts: "GROUP BY over the table (before)",
        "ms (median of 5)": await timed(() => store.query(GROUPED)),
        "backlog waiting": String(exactBacklog?.waiting ?? 0),
      },
    ];
    if (runs) {
      rows.push(
        {
          counts: "executions.statusCounts()",
          "ms (median of 5)": await timed(() => runs.executions.statusCounts()),
          "backlog waiting": "",
        },
        {
          counts: "executions.countByStatus()",
          "ms (median of 5)": await timed(() => runs.executions.countByStatus()),
          "backlog waiting": "",
        },
      );
    }
    table(
      `Counts at ${total.toLocaleString("en-US")} jobs${runs ? " and the runs of part 1" : ""}: estimates above 10,000 against exact counts`,
      rows,
    );
  } finally {
    await store.close();
    await context.dropDatabase(url);
  }
}
