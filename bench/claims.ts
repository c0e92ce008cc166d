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
 */
import { performance } from "node:perf_hooks";
import { consoleLogger, type Logger, openStore, type Store } from "../src/index.js";
import { type BenchContext, log, ms, type Row, table } from "./lib.js";

const QUEUE = "q";
const WORKER = "bench-claims";
const GOAL = 1.5;

const HOUR = 3_600_000;

/** Where a template job ended up: the row the backlog copies. */
interface Template {
  table: "jobs" | "jobs_history";
  id: string;
}

interface Shape {
  name: string;
  /**
   * Makes one job through the public API, left as the backlog's jobs should be (none for the baseline).
   * The backlog is copies of its row: whatever status, lease and columns the library gives a job in
   * that state, the copies have too, however the library comes to store it.
   */
  template?: (store: Store) => Promise<Template>;
  /** Column expressions that differ between copies (see copyRows); the template's value otherwise. */
  vary?: Record<string, string>;
}

/**
 * A UUIDv7 (as enqueue makes: 48 bits of Unix milliseconds, version 7, random rest) for the time `ts`,
 * so copies' ids are time-ordered like real ones and land on the primary key's right edge.
 */
const uuid7 = (ts: string) =>
  `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
     substring(int8send(floor(extract(epoch from ${ts}) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1),
     'hex')::uuid`;

/**
 * Replaces the template row by `rows` copies of it in one INSERT … SELECT … FROM generate_series. Each
 * copy `g` (1..rows) is shifted back in time by up to an hour (`s.shift`, older for smaller g): every
 * timestamp column moves by it, and its id is a UUIDv7 of its shifted created_at. A copy gets its own
 * payload, lease token (where the template holds one) and one of 100 lease owners; `vary` overrides
 * any column (the template's row is `t`).
 */
async function copyRows(store: Store, template: Template, rows: number, vary: Record<string, string> = {}) {
  const into = `"${store.schema}".${template.table}`;
  const { rows: columns } = await store.query<{ column_name: string; data_type: string }>(
    `select column_name, data_type from information_schema.columns
      where table_schema = $1 and table_name = $2 and is_generated = 'NEVER' order by ordinal_position`,
    [store.schema, template.table],
  );
  const expressions: Record<string, string> = {
    id: uuid7("t.created_at + s.shift"),
    payload: "jsonb_build_object('n', g)",
    lease_token: "case when t.lease_token is null then null else gen_random_uuid() end",
    lease_owner: "case when t.lease_owner is null then null else t.lease_owner || '-' || (g % 100) end",
    ...vary,
  };
  const select = columns.map(({ column_name: name, data_type: type }) => {
    if (expressions[name] !== undefined) return expressions[name];
    const column = `t."${name.replaceAll('"', '""')}"`;
    return type === "timestamp with time zone" ? `${column} + s.shift` : column;
  });
  await store.query(
    `with t as (select * from ${into} where id = $2),
          s as (select g, ($1::int - g) * (interval '-1 hour' / $1::int) as shift from generate_series(1, $1::int) g)
     insert into ${into} (${columns.map((c) => `"${c.column_name.replaceAll('"', '""')}"`).join(", ")})
     select ${select.join(", ")} from t, s`,
    [rows, template.id],
  );
  await store.query(`delete from ${into} where id = $1`, [template.id]);
}

/** Claims the one job of a queue (there must be one) for `leaseMs`. */
async function claimOnly(store: Store, queue: string, leaseMs?: number) {
  const [job] = await store.jobs.claim({ queue, workerId: "backlog-worker", limit: 1, leaseMs });
  if (!job) throw new Error(`no job to claim in ${queue}`);
  return job;
}

/** A job due in a day, of priority 10 (the ready job under test has 0). */
async function later(store: Store): Promise<Template> {
  const runAt = new Date(Date.now() + 24 * HOUR);
  const id = await store.jobs.enqueue({
    queue: QUEUE,
    name: "later",
    payload: { n: 0 },
    priority: 10,
    runAt,
  });
  return { table: "jobs", id };
}

const SHAPES: Shape[] = [
  { name: "empty" },
  {
    // Due in a day and outranking the ready job: as enqueue({ runAt, priority: 10 }) stores them.
    name: "future, higher priority",
    template: later,
  },
  {
    // The same, each with a priority of its own (11, 12, ...). PostgreSQL 18 passes all the future jobs
    // of one priority in one index search (a skip scan), but makes one search per priority.
    name: "future, distinct priorities",
    template: later,
    vary: { priority: "t.priority + g" },
  },
  {
    // Ready jobs, spread over 1,000 other queues.
    name: "other queues",
    template: async (store) => ({
      table: "jobs",
      id: await store.jobs.enqueue({ queue: "other-0", name: "backlog", payload: { n: 0 } }),
    }),
    vary: { queue: "'other-' || (g % 1000)" },
  },
  {
    // Failed on their last attempt.
    name: "dead",
    template: async (store) => {
      await store.jobs.enqueue({ queue: QUEUE, name: "doomed", payload: { n: 0 }, maxAttempts: 1 });
      const job = await claimOnly(store, QUEUE);
      await store.jobs.fail(job, { message: "boom" });
      return { table: "jobs", id: job.id };
    },
  },
  {
    // Completed with keepCompleted: records in jobs_history.
    name: "history",
    template: async (store) => {
      await store.jobs.enqueue({ queue: QUEUE, name: "done", payload: { n: 0 } });
      const job = await claimOnly(store, QUEUE);
      await store.jobs.complete(job, { keepCompleted: true });
      return { table: "jobs_history", id: job.id };
    },
  },
  {
    // Claimed in other queues by workers that died: their leases ran out (up to an hour ago).
    name: "expired leases elsewhere",
    template: async (store) => {
      await store.jobs.enqueue({ queue: "other-0", name: "orphaned", payload: { n: 0 } });
      const job = await claimOnly(store, "other-0", 1);
      return { table: "jobs", id: job.id };
    },
    vary: { queue: "'other-' || (g % 1000)" },
  },
  {
    // Running in "q" itself under leases held by live workers: two hours, so an hour or more after the
    // copies' shift, past the end of the run.
    name: "live leases in q",
    template: async (store) => {
      await store.jobs.enqueue({ queue: QUEUE, name: "busy", payload: { n: 0 } });
      const job = await claimOnly(store, QUEUE, 2 * HOUR);
      return { table: "jobs", id: job.id };
    },
  },
  // A second empty database, timed in the same turns: how far apart two identical shapes come out.
  { name: "empty (control)" },
];

/** The q-th quantile (nearest rank, as lib.ts's percentiles) of a list of milliseconds. */
function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/**
 * One round: enqueue one ready job (not timed), then claim + complete (timed). The claim must hand out
 * exactly that job. Returns the milliseconds of claim + complete.
 */
async function round(store: Store, i: number): Promise<number> {
  const id = await store.jobs.enqueue({ queue: QUEUE, name: "probe", payload: { i } });
  const started = performance.now();
  const claimed = await store.jobs.claim({ queue: QUEUE, workerId: WORKER, limit: 1 });
  const job = claimed[0];
  if (job) await store.jobs.complete(job);
  const elapsed = performance.now() - started;
  if (claimed.length !== 1 || job?.id !== id) {
    throw new Error(`round ${i}: the claim returned ${JSON.stringify(claimed.map((j) => j.id))}, not ${id}`);
  }
  return elapsed;
}

interface PlanFigures {
  hit: number;
  read: number;
  ms: number;
}

interface ExplainNode {
  "Shared Hit Blocks"?: number;
  "Shared Read Blocks"?: number;
}

/** A value as an SQL literal, for EXECUTE's arguments (the claim's are text and numbers). */
function literal(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean")
    return String(value);
  const quote = (text: string) => `'${text.replaceAll("'", "''")}'`;
  if (Array.isArray(value)) {
    const element = (v: unknown) => `"${String(v).replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
    return quote(`{${value.map(element).join(",")}}`);
  }
  if (value instanceof Date) return quote(value.toISOString());
  return quote(typeof value === "string" ? value : JSON.stringify(value));
}

class Rollback extends Error {}

/**
 * Captures the statements one claim sends (through logStatements on a second store, on the same
 * database), then runs them under EXPLAIN (ANALYZE, BUFFERS) as a custom plan and as a generic plan,
 * each in a transaction that rolls back, with a ready job present. Buffers are the top node's
 * (inclusive of everything below it), summed over the claim's statements.
 */
async function claimPlans(url: string, timed: Store) {
  const statements: { sql: string; values: unknown[] }[] = [];
  let recording = false;
  const logger: Logger = {
    ...consoleLogger("warn"),
    debug: (entry) => {
      if (recording && typeof entry.sql === "string") {
        statements.push({ sql: entry.sql, values: (entry.values as unknown[] | undefined) ?? [] });
      }
    },
  };
  const probe = await openStore({
    connection: url,
    migrate: false,
    pool: { max: 1 },
    logStatements: { values: true },
    logger,
  });
  try {
    const id = await probe.jobs.enqueue({ queue: QUEUE, name: "probe" });
    recording = true;
    const claimed = await probe.jobs.claim({ queue: QUEUE, workerId: WORKER, limit: 1 });
    recording = false;
    if (claimed[0]?.id !== id) throw new Error("the captured claim did not return the probe job");
    await probe.jobs.complete(claimed[0]);

    // Which plans the timed claims ran, statement by statement: the prepared statements of their
    // session (the timed store has one connection), "generic/custom" executions, or "-" if not prepared.
    const used: string[] = [];
    for (const statement of statements) {
      const { rows } = await timed.query<{ generic_plans: string; custom_plans: string }>(
        "select generic_plans, custom_plans from pg_prepared_statements where statement = $1",
        [statement.sql],
      );
      used.push(rows[0] ? `${rows[0].generic_plans}/${rows[0].custom_plans}` : "-");
    }

    const explain = async (mode: "custom" | "generic"): Promise<PlanFigures> => {
      const figures: PlanFigures = { hit: 0, read: 0, ms: 0 };
      await probe
        .transaction(async (tx) => {
          await tx.query(`set local plan_cache_mode = force_${mode}_plan`);
          for (const [k, statement] of statements.entries()) {
            const name = `bench_claims_${k}`;
            await tx.query(`prepare ${name} as ${statement.sql}`);
            const args = statement.values.length ? `(${statement.values.map(literal).join(", ")})` : "";
            const { rows } = await tx.query<{
              "QUERY PLAN": [{ Plan: ExplainNode; "Execution Time": number }];
            }>(`explain (analyze, buffers, format json) execute ${name}${args}`);
            await tx.query(`deallocate ${name}`);
            const result = rows[0]?.["QUERY PLAN"][0];
            figures.hit += result?.Plan["Shared Hit Blocks"] ?? 0;
            figures.read += result?.Plan["Shared Read Blocks"] ?? 0;
            figures.ms += result?.["Execution Time"] ?? 0;
          }
          throw new Rollback();
        })
        .catch((error: unknown) => {
          if (!(error instanceof Rollback)) throw error;
        });
      return figures;
    };
    // A ready job for the explained claims to take (each takes it in a transaction that rolls back).
    const ready = await probe.jobs.enqueue({ queue: QUEUE, name: "probe" });
    const custom = await explain("custom");
    const generic = await explain("generic");
    const left = await probe.jobs.claim({ queue: QUEUE, workerId: WORKER, limit: 1 });
    if (left[0]?.id !== ready) throw new Error("the explained claims left the queue changed");
    await probe.jobs.complete(left[0]);
    return { statements: statements.length, used: used.join(" + "), custom, generic };
  } finally {
    await probe.close();
  }
}

/** What the template became, as stored: "a jobs row (running, lease expired)". */
async function describe(store: Store, template: Template): Promise<string> {
  if (template.table === "jobs_history") return "a jobs_history row";
  const { rows } = await store.query<{ status: string; lease: string }>(
    `select status, case when lease_token is null then 'no lease'
                         when lease_expires_at < now() then 'lease expired' else 'lease held' end as lease
       from "${store.schema}".jobs where id = $1`,
    [template.id],
  );
  return `a jobs row (${rows[0]?.status}, ${rows[0]?.lease})`;
}

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
      `then claim({ limit: 1 }) + complete(lease) (timed); the shapes take turns in blocks of ${BLOCK} rounds`,
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
        const insertMs = performance.now() - t;
        t = performance.now();
        await store.query(`vacuum analyze "${store.schema}".jobs, "${store.schema}".jobs_history`);
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
    for (const { store } of prepared) for (let i = 0; i < warmup; i++) await round(store, i);
    for (let done = 0, block = 0; done < rounds; done += BLOCK, block++) {
      for (let k = 0; k < prepared.length; k++) {
        const { store, times } = prepared[(block + k) % prepared.length] as Prepared;
        for (let i = done; i < Math.min(rounds, done + BLOCK); i++)
          times.push(await round(store, warmup + i));
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
      const plan = await claimPlans(url, store);
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
    log(`\nclaims bench took ${Math.round((performance.now() - begun) / 1000)} s`);
  } finally {
    // All closed before any is dropped: a closed pool's sockets take a moment to go.
    for (const { store } of prepared) await store.close();
    for (const { url } of prepared) await context.dropDatabase(url);
  }
}
