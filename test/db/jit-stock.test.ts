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

const available = systemPostgresFor("the JIT tests");

interface Plan {
  Plan: { "Total Cost": number };
  JIT?: unknown;
}

const EXPLAINABLE = /^\s*(with|select|insert|update|delete|values)\b/i;

describe.skipIf(!available)("a stock PostgreSQL with JIT", () => {
  let server: SystemPostgres;
  beforeAll(async () => {
    server = await startSystemPostgres();
  }, 60_000);
  afterAll(() => server?.stop());

  it("plans no statement of an ordinary workload at or above jit_above_cost", async () => {
    const url = await server.createDatabase();
    const sent = new Map<string, unknown[]>();
    const ignore = () => {};
    const logger: Logger = {
      debug: (entry) => {
        if (typeof entry.sql === "string" && EXPLAINABLE.test(entry.sql)) {
          sent.set(entry.sql, (entry.values as unknown[]) ?? []);
        }
      },
      info: ignore,
      warn: ignore,
      error: ignore,
    };
    const schema = uniqueSchema();
    const store = await openStore({ connection: url, schema, logStatements: { values: true }, logger });
    await exerciseStore(store);
    await store.close();
    expect(sent.size).toBeGreaterThan(40);

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
      for (const [sql, values] of sent) {
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
});
