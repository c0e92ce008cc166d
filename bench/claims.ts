/**
 * npm run bench -- claims
 *
 * Claim latency behind a backlog. Each shape of backlog gets a database of its own: one job made
 * through the public API in the state the shape needs (scheduled, dead, completed, leased...), a
 * million copies of its row in one `insert … select … from generate_series` (through `store.query`),
 * then vacuum analyze. Then, one round at a time, one ready job is enqueued in queue "q" (not timed)
 * and `claim({ limit: 1 })` + `complete(lease)` are timed together; the shapes take turns in blocks of
 * rounds, so a machine that slows down for a while slows all of them alike. Each shape's median is
 * compared with the empty table's. Last, the statements of one claim, captured through
 * `logStatements`, run under EXPLAIN (ANALYZE, BUFFERS) as custom and as generic plans (in a
 * transaction that rolls back): the buffers show whether the claim walks past rows, and the timed
 * session's prepared statement tells which of the two plans the timed claims ran.
 *
 * The public API and the two tables' columns as the migrations leave them (read from the catalog), no
 * more: it keeps working when the claim, its statuses or its indexes change.
 * BENCH_ROWS sets the backlog (default 1,000,000 rows); BENCH_SCALE multiplies the rounds.
 *
 * This file is the suite's entry (bench/run.ts runs every top-level bench/*.ts): seeding, the turns of
 * rounds and the tables. Its pieces are in bench/claims/: the shapes, seeding the backlog, a timed
 * round, and the EXPLAINed plans.
 */
import { performance } from "node:perf_hooks";
import { openStore, type Store } from "../src/index.js";
import { copyRows, describe } from "./claims/backlog.js";
import { fairness, WARM_JOBS } from "./claims/fairness.js";
import { claimPlans } from "./claims/plans.js";
import { QUEUE } from "./claims/queue-under-test.js";
import { quantile, round } from "./claims/rounds.js";
import { SHAPES, type Shape } from "./claims/shapes.js";
import { type BenchContext, log, ms, type Row, table } from "./lib.js";

const GOAL = 1.5;

/** A shape's database, its store (one connection, kept) and its timed rounds. */
interface Prepared {
  shape: Shape;
  url: string;
  store: Store;
  rows: number;
  times: number[];
}

/** Rounds per block: the shapes take turns block by block, so a machine that drifts affects all alike. */
const BLOCK = 100;
/** Rounds of a grouped shape between vacuums of the groups' tables, as a worker vacuums (per 1,000 jobs). */
const GROUP_VACUUM_ROUNDS = 1_000;

export async function run(context: BenchContext): Promise<void> {
  const rows = Math.max(1, Math.round(Number(process.env.BENCH_ROWS ?? 1_000_000) || 1_000_000));
  const rounds = Math.max(10, Math.round(2_000 * context.scale));
  const warmup = Math.max(1, Math.round(200 * context.scale));
  log(
    `${rows.toLocaleString("en-US")} rows of backlog per shape (BENCH_ROWS), each shape in a database of its own: ` +
      "one job made through the API in the state the shape needs, copied by one insert … select from generate_series, then vacuum analyze",
  );
  log(
    `${warmup} warm-up then ${rounds} timed rounds per shape, one at a time: enqueue one ready job to "${QUEUE}" (not timed), ` +
      `then claim({ limit: 1 }) + complete(lease) (timed); the shapes take turns in blocks of ${BLOCK} rounds; ` +
      `the grouped shapes' group tables vacuumed every ${GROUP_VACUUM_ROUNDS} rounds, as a worker vacuums them every 1,000 jobs`,
  );
  const begun = performance.now();
  const prepared: Prepared[] = [];
  const seeding: Row[] = [];
  try {
    for (const shape of SHAPES) {
      const url = await context.freshDatabase();
      // One connection, never closed while idle: the timed claims all run on it, and afterwards its
      // prepared statement tells which plans they ran.
      const store = await openStore({ connection: url, pool: { max: 1, idleTimeoutMs: 0 } });
      const entry: Prepared = { shape, url, store, rows: shape.template ? rows : 0, times: [] };
      prepared.push(entry);
      if (prepared.length === 1) {
        const { version, pending } = await store.migrationStatus();
        const { rows: server } = await store.query<{ server_version: string }>("show server_version");
        log(
          `flowstore migrations: version ${version} (${pending} pending); PostgreSQL ${server[0]?.server_version}`,
        );
      }
      let seeded = "no backlog";
      if (shape.template) {
        const template = await shape.template(store);
        const made = await describe(store, template);
        let t = performance.now();
        await copyRows(store, template, rows, shape.vary);
        await shape.afterCopy?.(store);
        const insertMs = performance.now() - t;
        t = performance.now();
        await store.query(
          `vacuum analyze "${store.schema}".jobs, "${store.schema}".jobs_history, "${store.schema}".job_groups`,
        );
        const vacuumMs = performance.now() - t;
        const { rows: size } = await store.query<{ bytes: string }>(
          "select pg_total_relation_size($1::regclass)::bigint as bytes",
          [`"${store.schema}".${template.table}`],
        );
        seeded = `${rows.toLocaleString("en-US")} copies of ${made} in ${ms(insertMs)}, vacuum analyze ${ms(vacuumMs)}`;
        seeding.push({
          shape: shape.name,
          rows,
          "insert ms": insertMs,
          "vacuum analyze ms": vacuumMs,
          table: template.table,
          "MiB with indexes": Number(size[0]?.bytes ?? 0) / 2 ** 20,
        });
      } else {
        await store.query(`vacuum analyze "${store.schema}".jobs, "${store.schema}".jobs_history`);
      }
      const stats = await store.jobs.stats();
      const sum = (key: "waiting" | "ready" | "running" | "dead") => stats.reduce((n, s) => n + s[key], 0);
      log(
        `${shape.name}: ${seeded}; jobs.stats(): ${sum("waiting")} waiting (${sum("ready")} ready), ` +
          `${sum("running")} running, ${sum("dead")} dead, in ${stats.length} queues`,
      );
    }
    const seedMs = performance.now() - begun;
    // The seeds' WAL goes to the data files now, not in a checkpoint in the middle of the timing.
    await prepared[0]?.store.query("checkpoint");
    log(`seeding took ${Math.round(seedMs / 1000)} s`);

    const t = performance.now();
    for (const { store, shape } of prepared)
      for (let i = 0; i < warmup; i++) await round(store, i, shape.probeGroup?.(i));
    for (let done = 0, block = 0; done < rounds; done += BLOCK, block++) {
      for (let k = 0; k < prepared.length; k++) {
        const { store, times, shape } = prepared[(block + k) % prepared.length] as Prepared;
        for (let i = done; i < Math.min(rounds, done + BLOCK); i++)
          times.push(await round(store, warmup + i, shape.probeGroup?.(warmup + i)));
        // What a worker does every 1,000 jobs (QueueVacuum): each round of a grouped shape leaves a
        // dead entry of a served group at the head of the groups' index, and every claim steps over them.
        if (shape.probeGroup && (done + BLOCK) % GROUP_VACUUM_ROUNDS === 0) {
          await store.query(
            `vacuum (skip_locked) "${store.schema}".job_groups, "${store.schema}".job_group_wakeups`,
          );
        }
      }
    }
    log(`rounds took ${Math.round((performance.now() - t) / 1000)} s`);

    const baseline = quantile(
      [...(prepared[0]?.times ?? [])].sort((a, b) => a - b),
      0.5,
    );
    const results: Row[] = prepared.map(({ shape, rows: count, times }) => {
      const sorted = [...times].sort((a, b) => a - b);
      const p50 = quantile(sorted, 0.5);
      return {
        shape: shape.name,
        rows: count,
        "p50 ms": p50,
        "p90 ms": quantile(sorted, 0.9),
        "p99 ms": quantile(sorted, 0.99),
        "p50 / empty": p50 / baseline,
        goal: shape.template ? `<= ${GOAL}` : "-",
        met: shape.template ? (p50 / baseline <= GOAL ? "yes" : "NO") : "-",
      };
    });

    const plans: Row[] = [];
    for (const { shape, url, store } of prepared) {
      const plan = await claimPlans(url, store, shape.probeGroup);
      plans.push({
        shape: shape.name,
        statements: plan.statements,
        "timed: generic/custom": plan.used,
        "custom hit": plan.custom.hit,
        "custom read": plan.custom.read,
        "custom ms": plan.custom.ms,
        "generic hit": plan.generic.hit,
        "generic read": plan.generic.read,
        "generic ms": plan.generic.ms,
      });
    }

    table("seeding", seeding);
    table(
      `claim + complete, ${rounds} sequential rounds per shape (goal: p50 at most ${GOAL}x the empty table's)`,
      results,
    );
    table(
      "one claim under EXPLAIN (ANALYZE, BUFFERS): shared buffers of the top node (summed over the claim's statements), " +
        "as a custom and as a generic plan; and the plans the timed claims ran, per statement",
      plans,
    );
  } finally {
    // All closed before any is dropped: a closed pool's sockets take a moment to go.
    for (const { store } of prepared) await store.close();
    for (const { url } of prepared) await context.dropDatabase(url);
  }
  // After the shapes' databases are gone: the fairness runs want the machine to themselves.
  const fair = await fairness(context, Math.max(WARM_JOBS * 2, Math.round(100_000 * context.scale)));
  table(
    "a small tenant's one job behind a large tenant's backlog, a worker (concurrency 8) draining the queue: " +
      "wait from its enqueue to its start, and the large tenant's jobs that started meanwhile",
    fair,
  );
  log(`\nclaims bench took ${Math.round((performance.now() - begun) / 1000)} s`);
}
