#!/usr/bin/env node
/**
 * Keeps the schema distributable on Citus, run by `npm run lint`. Citus cannot run in CI, so the
 * promise is checked on the migrations themselves: this reads src/migrations/sql/*.sql in order, builds
 * the final shape of every table (columns, primary key, unique constraints and unique indexes, foreign
 * keys: whatever later migrations dropped, recreated or renamed) and holds it against the distribution
 * plan in scripts/distribution-plan.json, which says for each table: distributed by a column (and
 * co-located with which table), a reference table, or local (left on the coordinator, and why).
 *
 * What Citus would refuse, and so what fails here, naming the migration file, the table and the key:
 * - a primary key or unique constraint/index of a distributed table without its distribution column,
 *   unless the plan lists that key among the table's exceptions (a change Citus needs, documented in
 *   docs/scale-out.md), so that only a new offender fails;
 * - a foreign key between distributed tables that does not pair their distribution columns (it would
 *   cross executions), or that links tables of different co-location groups; one from a distributed or
 *   reference table to a local table, or from a reference or local table to a distributed one;
 * - a distribution column that is missing or may be null, or whose type or collation differs within
 *   its group;
 * - a table the plan does not classify, and a table in the plan that no migration leaves standing;
 * - an exception that no longer matches an offending key, and DDL this reader does not understand
 *   (it would rather fail than guess).
 *
 * Prints each problem and exits 1; prints nothing and exits 0 when the plan holds. With `--calls
 * [schema]` it prints the Citus calls that distribute the tables as planned, in an order Citus accepts,
 * after the settings they need of their session.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readShape } from "./sql-shape.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const MIGRATIONS_DIR = path.resolve(HERE, "..", "src", "migrations", "sql");
export const PLAN_FILE = path.join(HERE, "distribution-plan.json");
const KINDS = new Set(["distributed", "reference", "local"]);

export { readShape };

/** The migration files in the order the runner applies them (by their number). */
export function readMigrations(dir = MIGRATIONS_DIR) {
  return readdirSync(dir)
    .filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name))
    .sort()
    .map((name) => ({ name, sql: readFileSync(path.join(dir, name), "utf8").replaceAll("\r\n", "\n") }));
}

export function readPlan(file = PLAN_FILE) {
  return JSON.parse(readFileSync(file, "utf8"));
}

function describe(entry) {
  if (entry.kind !== "distributed") return entry.kind;
  const group = entry.colocateWith ? `, co-located with ${entry.colocateWith}` : "";
  return `distributed by ${entry.column}${group}`;
}

function keyLabel(key) {
  const kinds = { primary: "primary key", constraint: "unique constraint", index: "unique index" };
  const where = key.where ? ` where ${key.where}` : "";
  return `${kinds[key.kind]} ${key.name} (${key.elements.join(", ")})${where}`;
}

/** The table a distributed table's group is named by: the end of its colocateWith chain. */
function groupOf(plan, table, seen = new Set()) {
  const entry = plan.tables[table];
  if (!entry?.colocateWith || seen.has(table)) return table;
  seen.add(table);
  return groupOf(plan, entry.colocateWith, seen);
}

function checkPlanShape(plan, problems) {
  if (typeof plan?.tables !== "object" || plan.tables === null) {
    problems.push("distribution plan: it has no `tables` object");
    return false;
  }
  for (const [table, entry] of Object.entries(plan.tables)) {
    const say = (what) => problems.push(`distribution plan: ${table}: ${what}`);
    if (!KINDS.has(entry?.kind)) say(`kind must be one of ${[...KINDS].join(", ")}`);
    if (typeof entry?.why !== "string" || entry.why.trim() === "") say("say why (`why`)");
    if (entry?.kind !== "distributed") {
      if (entry?.column || entry?.colocateWith || entry?.exceptions) {
        say("only a distributed table has a column, colocateWith or exceptions");
      }
      continue;
    }
    if (typeof entry.column !== "string" || entry.column === "")
      say("a distributed table needs its `column`");
    const other = entry.colocateWith && plan.tables[entry.colocateWith];
    if (entry.colocateWith && other?.kind !== "distributed") {
      say(`colocateWith names ${entry.colocateWith}, which the plan does not distribute`);
    }
  }
  return true;
}

function checkKeys(table, shape, entry, used, problems) {
  const exceptions = entry.exceptions ?? {};
  for (const key of shape.keys) {
    if (key.columns.includes(entry.column)) continue;
    if (Object.hasOwn(exceptions, key.name)) {
      used.add(`${table}.${key.name}`);
      continue;
    }
    problems.push(
      `${key.file}: ${table} (${describe(entry)}): ${keyLabel(key)} lacks the distribution column ${entry.column}; ` +
        "Citus refuses a key it cannot check on one shard",
    );
  }
}

function checkForeignKey(plan, table, fk, entry, problems) {
  const target = plan.tables[fk.refTable];
  if (!target) return; // the unclassified table is reported on its own
  const say = (why) =>
    problems.push(
      `${fk.file}: ${table} (${describe(entry)}): foreign key ${fk.name} (${fk.columns.join(", ")}) -> ` +
        `${fk.refTable} (${fk.refColumns.join(", ")}) (${describe(target)}): ${why}`,
    );
  // Every node holds a copy of a reference table, so any table may reference one.
  if (target.kind === "reference") return;
  if (entry.kind === "local") {
    if (target.kind === "distributed") say("a local table cannot reference a distributed one");
    return;
  }
  if (target.kind === "local") {
    say(`a ${entry.kind} table cannot reference a table left on the coordinator`);
    return;
  }
  if (entry.kind === "reference") {
    say("a reference table, copied to every node, cannot reference rows that live on one shard");
    return;
  }
  if (groupOf(plan, table) !== groupOf(plan, fk.refTable)) {
    say(`the tables are not co-located (groups ${groupOf(plan, table)} and ${groupOf(plan, fk.refTable)})`);
    return;
  }
  const paired = fk.columns.some(
    (column, i) => column === entry.column && fk.refColumns[i] === target.column,
  );
  if (!paired) {
    say(`it must pair ${entry.column} with ${target.column}, or it would cross from one shard to another`);
  }
}

function checkColumn(plan, table, shape, entry, tables, problems) {
  const column = shape.columns.get(entry.column);
  if (!column) {
    problems.push(`${shape.file}: ${table} (${describe(entry)}): there is no column ${entry.column}`);
    return;
  }
  if (!column.notNull) {
    problems.push(
      `${column.file}: ${table} (${describe(entry)}): the distribution column ${entry.column} may be null; ` +
        "Citus places a row by it and refuses a null",
    );
  }
  // Citus co-locates by hash value: the tables of a group need one type, and one collation.
  const root = groupOf(plan, table);
  const rootColumn = tables.get(root)?.columns.get(plan.tables[root]?.column);
  const typeOf = (c) => (c.collation ? `${c.type} collate "${c.collation}"` : c.type);
  if (rootColumn && typeOf(rootColumn) !== typeOf(column)) {
    problems.push(
      `${column.file}: ${table} (${describe(entry)}): ${entry.column} is ${typeOf(column)}, but the group's ` +
        `${root}.${plan.tables[root].column} is ${typeOf(rootColumn)}; co-located tables share one type`,
    );
  }
}

/**
 * The problems of the migrations (`{ name, sql }` in order) against the plan; none when it holds.
 * Each names the migration file, the table and the key or foreign key concerned.
 */
export function checkDistribution(sqlFiles, plan) {
  const problems = [];
  if (!checkPlanShape(plan, problems)) return problems;
  const { tables, problems: unread } = readShape(sqlFiles);
  problems.push(...unread);
  const used = new Set();
  for (const [table, shape] of tables) {
    const entry = plan.tables[table];
    if (!entry) {
      problems.push(
        `${shape.file}: ${table} is not in the distribution plan (scripts/distribution-plan.json): ` +
          "classify it as distributed (by which column), reference or local, and say why",
      );
      continue;
    }
    if (!KINDS.has(entry.kind)) continue;
    if (entry.kind === "distributed" && entry.column) {
      checkColumn(plan, table, shape, entry, tables, problems);
      checkKeys(table, shape, entry, used, problems);
    }
    for (const fk of shape.foreignKeys) checkForeignKey(plan, table, fk, entry, problems);
  }
  for (const [table, entry] of Object.entries(plan.tables)) {
    if (!tables.has(table)) {
      problems.push(`distribution plan: ${table} is in the plan but no migration leaves such a table`);
      continue;
    }
    for (const name of Object.keys(entry?.exceptions ?? {})) {
      if (!used.has(`${table}.${name}`)) {
        problems.push(
          `distribution plan: ${table}: the exception ${name} matches no key that lacks ${entry.column}; remove it`,
        );
      }
    }
  }
  return problems;
}

/**
 * What the calls need of their session (docs/scale-out.md says why, and a test on a real cluster shows
 * it): with local tables' foreign keys to reference tables on, the first reference table turns the
 * partitioned history into Citus local tables and fails (42804); on a schema that holds rows, the
 * tables keyed to executions are distributed one connection per node.
 */
export const CITUS_SESSION = [
  "set citus.enable_local_reference_table_foreign_keys = off;",
  "set citus.multi_shard_modify_mode = 'sequential';",
];

/**
 * The calls that distribute the tables as planned, in an order Citus accepts: a table after the
 * tables it references and the one it is co-located with, after the session's settings. Local tables
 * take no call.
 */
export function citusCalls(plan, sqlFiles, schema = "flowstore") {
  const { tables } = readShape(sqlFiles);
  const name = (table) => `'${/^[a-z_][a-z0-9_]*$/.test(schema) ? schema : `"${schema}"`}.${table}'`;
  const planned = Object.keys(plan.tables).filter((t) => plan.tables[t].kind !== "local" && tables.has(t));
  const order = [];
  const visit = (table, path = new Set()) => {
    if (order.includes(table) || path.has(table)) return;
    path.add(table);
    const entry = plan.tables[table];
    const before = (tables.get(table)?.foreignKeys ?? []).map((fk) => fk.refTable);
    if (entry.colocateWith) before.unshift(entry.colocateWith);
    for (const other of before) if (other !== table && planned.includes(other)) visit(other, path);
    order.push(table);
  };
  // Reference tables first: distributed tables may reference them, never the other way round.
  for (const table of planned) if (plan.tables[table].kind === "reference") visit(table);
  for (const table of planned) visit(table);
  const calls = order.map((table) => {
    const entry = plan.tables[table];
    if (entry.kind === "reference") return `select create_reference_table(${name(table)});`;
    // A group's first table starts a group of its own: by default Citus would put every table with a
    // distribution column of the same type in one group.
    const group = entry.colocateWith ? name(entry.colocateWith) : "'none'";
    return `select create_distributed_table(${name(table)}, '${entry.column}', colocate_with => ${group});`;
  });
  return [...CITUS_SESSION, ...calls];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const migrations = readMigrations();
  const plan = readPlan();
  const calls = process.argv.indexOf("--calls");
  if (calls >= 0) {
    console.log(citusCalls(plan, migrations, process.argv[calls + 1]).join("\n"));
  } else {
    const problems = checkDistribution(migrations, plan);
    if (problems.length > 0) {
      console.error(`Citus distribution: ${problems.length} problem(s) (see scripts/check-distribution.mjs)`);
      for (const problem of problems) console.error(`  ${problem}`);
      process.exit(1);
    }
  }
}
