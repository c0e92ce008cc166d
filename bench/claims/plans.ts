/**
 * The claim's plans: captures the statements one claim sends and runs them under EXPLAIN (ANALYZE,
 * BUFFERS) as custom and as generic plans, and reads which plans the timed claims ran from their
 * session's prepared statements.
 */
import { consoleLogger, type Logger, openStore, type Store } from "../../src/index.js";
import { QUEUE, WORKER } from "./queue-under-test.js";

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
 * each in a transaction that rolls back, with a ready job present (in a group named by `group`, when
 * the shape's probes have one). Buffers are the top node's
 * (inclusive of everything below it), summed over the claim's statements.
 */
export async function claimPlans(url: string, timed: Store, group?: (name: string) => string) {
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
    const id = await probe.jobs.enqueue({ queue: QUEUE, name: "probe", group: group?.("captured") });
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
    const ready = await probe.jobs.enqueue({ queue: QUEUE, name: "probe", group: group?.("explained") });
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
