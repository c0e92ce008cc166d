/**
 * Reading the plans of the statements a repository actually sends: a store that records each statement
 * with its values (through statement logging), and EXPLAIN of the one a call sent.
 */
import { expect } from "vitest";
import type { Logger, Store } from "../../src/index.js";
import type { TestDriver } from "./harness.js";

export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Index Cond"?: string;
  Filter?: string;
  "Shared Hit Blocks"?: number;
  "Shared Read Blocks"?: number;
  Plans?: PlanNode[];
}

export function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** What a Seq Scan of a small partition is called once markSmallPartitions has seen it. */
export const SMALL_PARTITION_SCAN = "Seq Scan of a small partition";
const SMALL = 1_000;

/** What a Seq Scan of a table of a handful of rows by design is called once markSmallPartitions has seen it. */
export const SMALL_TABLE_SCAN = "Seq Scan of a table of a few rows";
/**
 * Tables that hold a handful of rows whatever the store's size: read whole, they cost a page. The
 * queue's limits are a row per queue that has any, and its counts' additions are folded away once a
 * process has written 1,000.
 */
const SMALL_BY_DESIGN = new Set(["queue_pauses", "queue_limits", "queue_total_additions"]);

/**
 * Renames the Seq Scans of partitions of at most 1,000 rows in `plan`: the ranges a partitioned table
 * has made ahead hold nothing until their time comes, and its default partition what no range takes,
 * and the planner rightly reads a few rows whole there; so with the tables that only ever hold a
 * handful (the paused queues). A Seq Scan of anything larger keeps its name, and the checks that look
 * for it still do.
 */
export async function markSmallPartitions(store: Store, plan: PlanNode): Promise<PlanNode> {
  for (const node of nodes(plan)) {
    const relation = node["Relation Name"];
    if (node["Node Type"] !== "Seq Scan" || !relation) continue;
    if (SMALL_BY_DESIGN.has(relation)) {
      node["Node Type"] = SMALL_TABLE_SCAN;
      continue;
    }
    const name = `"${store.schema}"."${relation}"`;
    const { rows } = await store.query<{ part: boolean }>(
      "select relispartition as part from pg_class where oid = to_regclass($1)",
      [name],
    );
    if (!rows[0]?.part) continue;
    const { rows: counted } = await store.query<{ n: number }>(
      `select count(*)::int as n from (select 1 from ${name} limit ${SMALL + 1}) r`,
    );
    if ((counted[0]?.n ?? 0) <= SMALL) node["Node Type"] = SMALL_PARTITION_SCAN;
  }
  return plan;
}

/** A statement a store sent, with its values (statement logging with `{ values: true }`). */
export interface Recorded {
  sql: string;
  values: unknown[];
}

/** A logger that keeps every statement a store logs, and nothing else. */
export function recordingLogger(): { statements: Recorded[]; logger: Logger } {
  const statements: Recorded[] = [];
  const ignore = () => {};
  const logger: Logger = {
    debug: (entry) => {
      statements.push({ sql: entry.sql as string, values: (entry.values as unknown[]) ?? [] });
    },
    info: ignore,
    warn: ignore,
    error: ignore,
  };
  return { statements, logger };
}

/**
 * A store that records the statements it sends; `planOf` EXPLAINs the one a call sent that `pick`
 * names. With `analyze`, the statement runs again and `blocks` counts the pages it read, a measure of
 * the work it does that does not depend on the machine's speed. `plansOf` gives that plan and the
 * generic one, made without the values (EXPLAIN's generic_plan): what the store's own connections
 * run, as they force generic plans (see open.ts), where a plan for the values is what a pool of the
 * user's may run.
 */
export async function openRecording(driver: TestDriver, pick: (sql: string) => boolean) {
  const { statements, logger } = recordingLogger();
  const store = await driver.open({ logStatements: { values: true }, logger });
  const record = async (call: () => Promise<unknown>): Promise<Recorded> => {
    statements.length = 0;
    await call();
    const statement = statements.find((st) => pick(st.sql));
    expect(statement).toBeDefined();
    return statement as Recorded;
  };
  const explain = async (statement: Recorded, mode: "analyze" | "values" | "generic") => {
    const { rows } =
      mode === "generic"
        ? await explainGeneric(store, statement.sql)
        : await store.query<ExplainRow>(
            `explain (${mode === "analyze" ? "analyze, buffers, " : ""}format json) ${statement.sql}`,
            statement.values,
          );
    const root = await markSmallPartitions(store, rows[0]?.["QUERY PLAN"][0].Plan as PlanNode);
    const all = nodes(root);
    const shown = JSON.stringify(
      all.map((n) =>
        [
          n["Node Type"],
          n["Index Name"],
          n["Index Cond"] && `cond ${n["Index Cond"]}`,
          n.Filter && `filter ${n.Filter}`,
        ]
          .filter(Boolean)
          .join(" "),
      ),
    );
    const blocks = (root["Shared Hit Blocks"] ?? 0) + (root["Shared Read Blocks"] ?? 0);
    return { nodes: all, shown, blocks };
  };
  /** The plan for the values of the statement a call sent (with `analyze`, run again). */
  const planOf = async (call: () => Promise<unknown>, { analyze = false } = {}) =>
    explain(await record(call), analyze ? "analyze" : "values");
  /** Both plans of the statement one call sent: for its values, and generic. */
  const plansOf = async (call: () => Promise<unknown>) => {
    const statement = await record(call);
    return [
      { kind: "for its values", ...(await explain(statement, "values")) },
      { kind: "generic", ...(await explain(statement, "generic")) },
    ];
  };
  return { store, planOf, plansOf };
}

export type ExplainRow = { "QUERY PLAN": [{ Plan: PlanNode }] };

/**
 * EXPLAIN of the plan made without values, as the store's own connections run every statement (they
 * force generic plans); `options` are EXPLAIN's others ("verbose, ", say). The generic_plan option
 * makes it from PostgreSQL 16 on; before, the statement is prepared and its generic plan explained
 * with nulls for its parameters, which a generic plan does not look at.
 */
export async function explainGeneric(store: Store, sql: string, options = "") {
  const parameters = Math.max(0, ...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  const { rows } = await store.query<{ version: number }>(
    "select current_setting('server_version_num')::int as version",
  );
  if (parameters === 0 || (rows[0]?.version ?? 0) >= 160000) {
    const generic = parameters === 0 ? "" : "generic_plan, ";
    return store.query<ExplainRow>(`explain (${generic}${options}format json) ${sql}`);
  }
  return store.transaction(async (tx) => {
    await tx.query("set local plan_cache_mode = force_generic_plan");
    await tx.query(`prepare explained as ${sql}`);
    const nulls = Array.from({ length: parameters }, () => "null").join(", ");
    const plan = await tx.query<ExplainRow>(`explain (${options}format json) execute explained(${nulls})`);
    await tx.query("deallocate explained");
    return plan;
  });
}

/** Expects, softly, that the plan reads no table whole. */
export function expectNoSeqScan(plan: { nodes: PlanNode[]; shown: string }, name: string): void {
  expect
    .soft(
      plan.nodes.map((n) => n["Node Type"]),
      `${name}: ${plan.shown}`,
    )
    .not.toContain("Seq Scan");
}

/**
 * Expects, softly, that each call's statement (see openRecording's `plansOf`), planned for its values
 * and generically, reads no table whole and uses the index named beside it.
 */
export async function expectIndexProbes(
  plansOf: (call: () => Promise<unknown>) => Promise<{ kind: string; nodes: PlanNode[]; shown: string }[]>,
  calls: [what: string, index: string, call: () => Promise<unknown>][],
): Promise<void> {
  for (const [what, index, call] of calls) {
    for (const plan of await plansOf(call)) {
      const name = `${what} (plan ${plan.kind})`;
      expectNoSeqScan(plan, name);
      expect
        .soft(
          plan.nodes.some((n) => n["Index Name"] === index),
          `${name} uses ${index}: ${plan.shown}`,
        )
        .toBe(true);
    }
  }
}
