/**
 * No statement the store sends pays for a JIT compilation by accident. A stock PostgreSQL built with
 * LLVM (Debian's packages, most managed services) compiles every query whose estimated cost passes
 * jit_above_cost (100,000): a checkpoint read estimated at 170,000 spent 23 ms compiling a query that
 * runs in 0.1 ms. Each statement of an ordinary workload is planned here as a user's own pool would
 * plan it (for its values, and generically), on the system's PostgreSQL with its defaults, and none
 * may reach the threshold.
 * Needs Debian's PostgreSQL (CI installs it); skipped with a note elsewhere, never in CI.
 */
import pg from "pg";
// @ts-expect-error: pg's value serializer has no type declarations
import { prepareValue } from "pg/lib/utils.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Logger, openStore } from "../../src/index.js";
import { type SystemPostgres, startSystemPostgres } from "../../src/testing/system-postgres.js";
import { uniqueSchema } from "../support/harness.js";
import { exerciseStore } from "../support/store-workload.js";
import { systemPostgresFor } from "../support/system-postgres.js";
import { until } from "../support/waiting.js";

const available = systemPostgresFor("the JIT tests");

interface Plan {
  Plan: { "Total Cost": number };
  JIT?: unknown;
}

/**
 * Ends a user's pool and waits until the server has no session of it left: pg's end() resolves before
 * its connections have closed, and one the server then terminates as it stops raises an error on a
 * client nobody listens to any more.
 */
async function endPool(pool: pg.Pool, url: string): Promise<void> {
  await pool.end();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await until(async () => {
      const { rows } = await admin.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()`,
      );
      return rows[0]?.n === 0;
    });
  } finally {
    await admin.end();
  }
}

const EXPLAINABLE = /^\s*(with|select|insert|update|delete|values)\b/i;

describe.skipIf(!available)("a stock PostgreSQL with JIT", () => {
  let server: SystemPostgres;
  beforeAll(async () => {
    // pg_stat_statements counts, per statement, the functions JIT compiled for it.
    server = await startSystemPostgres({ shared_preload_libraries: "pg_stat_statements" });
  }, 60_000);
  afterAll(() => server?.stop());

  it("plans no statement of an ordinary workload at or above jit_above_cost", async () => {
    const url = await server.createDatabase();
    // Each statement once per pattern of null values: a null can change a custom plan's shape
    // (stats() of every queue, and of one).
    const sent = new Map<string, { sql: string; values: unknown[] }>();
    // Statements sent in a transaction that turned JIT off for itself cannot compile, whatever their
    // estimate: the next test runs them on a user's pool and reads what was compiled. The workload
    // awaits each of those transactions alone, so the log's order tells which statements they hold;
    // a statement sent elsewhere as well is planned here.
    const jitOffOnly = new Map<string, boolean>();
    let jitOff = false;
    const ignore = () => {};
    const logger: Logger = {
      debug: (entry) => {
        if (typeof entry.sql !== "string") return;
        if (entry.sql === "set local jit = off") jitOff = true;
        else if (/^(begin|commit)\b/.test(entry.sql)) jitOff = false;
        else if (EXPLAINABLE.test(entry.sql)) {
          const values = (entry.values as unknown[]) ?? [];
          sent.set(`${entry.sql}\0${values.map((v) => v === null)}`, { sql: entry.sql, values });
          jitOffOnly.set(entry.sql, jitOff && jitOffOnly.get(entry.sql) !== false);
        }
      },
      info: ignore,
      warn: ignore,
      error: ignore,
    };
    // Sent through a user's pool, whose sessions have the server's defaults (the store's own turn JIT
    // off as they open), as they are planned below.
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    try {
      const schema = uniqueSchema();
      const store = await openStore({ connection: pool, schema, logStatements: { values: true }, logger });
      await exerciseStore(store);
      await store.close();
    } finally {
      await endPool(pool, url);
    }
    expect(sent.size).toBeGreaterThan(40);
    // jobs.stats() is one of them.
    expect([...jitOffOnly].filter(([sql, off]) => off && sql.includes("in_waiting"))).toHaveLength(1);

    // A session as a user's own pool has it: the server's defaults.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ jit: string; jit_above_cost: string }>(
        "select current_setting('jit') as jit, current_setting('jit_above_cost') as jit_above_cost",
      );
      expect(rows[0]?.jit).toBe("on");
      const threshold = Number(rows[0]?.jit_above_cost);
      const costly: string[] = [];
      let n = 0;
      for (const { sql, values } of sent.values()) {
        if (jitOffOnly.get(sql)) continue;
        const name = `jit_${++n}`;
        await client.query(`prepare ${name} as ${sql}`);
        // EXPLAIN takes no parameters: the values go in as literals, each made as pg sends it.
        const literal = (v: unknown) => {
          const text = prepareValue(v);
          return text === null ? "null" : client.escapeLiteral(String(text));
        };
        const args = values.length ? `(${values.map(literal).join(", ")})` : "";
        for (const mode of ["force_custom_plan", "force_generic_plan"]) {
          await client.query(`set plan_cache_mode = ${mode}`);
          const explained = await client.query<{ "QUERY PLAN": [Plan] }>(
            `explain (format json) execute ${name}${args}`,
          );
          const plan = explained.rows[0]?.["QUERY PLAN"][0] as Plan;
          if (plan.Plan["Total Cost"] >= threshold || plan.JIT) {
            costly.push(
              `${Math.round(plan.Plan["Total Cost"])} (${mode}): ${sql.replace(/\s+/g, " ").slice(0, 140)}`,
            );
          }
        }
        await client.query(`deallocate ${name}`);
      }
      expect(costly).toEqual([]);
    } finally {
      await client.end();
    }
  });

  it("compiles nothing for the workload on a user's own pool, jobs.stats() included", async () => {
    const url = await server.createDatabase();
    // A user's pool: its sessions have the server's defaults, JIT on.
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    try {
      await pool.query("create extension pg_stat_statements");
      const store = await openStore({ connection: pool, schema: uniqueSchema() });
      await exerciseStore(store);
      await store.close();
      const { rows } = await pool.query<{ query: string; calls: string; jit_functions: string }>(
        `select query, calls, jit_functions from pg_stat_statements
          where dbid = (select oid from pg_database where datname = current_database())`,
      );
      // stats() ran (its statement is estimated past jit_above_cost on a fresh store)...
      const statsCalls = rows
        .filter((row) => row.query.includes("in_waiting"))
        .reduce((sum, row) => sum + Number(row.calls), 0);
      expect(statsCalls).toBeGreaterThanOrEqual(2);
      // ...and no statement of the workload compiled a function.
      const compiled = rows
        .filter((row) => Number(row.jit_functions) > 0)
        .map((row) => `${row.jit_functions} functions: ${row.query.replace(/\s+/g, " ").slice(0, 140)}`);
      expect(compiled).toEqual([]);
    } finally {
      await endPool(pool, url);
    }
  });
});
