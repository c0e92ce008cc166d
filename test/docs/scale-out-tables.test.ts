/**
 * docs/scale-out.md's "Where each table goes" names every table the migrations create, and only those,
 * each placed as scripts/distribution-plan.json places it: a migration that adds a table fails this
 * until the page says where the table goes on Citus. Tables are found in the migrations as
 * scripts/matrix-plan.mjs finds the store's tables; a partition (`partition of`) follows its table.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const MIGRATIONS = "src/migrations/sql";
const CREATED = /create (?:unlogged )?table (?:if not exists )?:SCHEMA\.([a-z_]+)( partition of)?/g;

/** The tables the migrations create, partitions left out. */
function migrationTables(): Set<string> {
  const tables = new Set<string>();
  for (const file of readdirSync(MIGRATIONS).filter((name) => name.endsWith(".sql"))) {
    for (const [, table, partition] of readFileSync(path.join(MIGRATIONS, file), "utf8").matchAll(CREATED)) {
      if (!partition) tables.add(table as string);
    }
  }
  return tables;
}

/** Each table the page's table names, with the placement written beside it. */
function documentedTables(): Map<string, string> {
  const page = readFileSync("docs/scale-out.md", "utf8");
  const section = /\n## Where each table goes\n([\s\S]*?)\n## /.exec(page)?.[1] ?? "";
  const placed = new Map<string, string>();
  for (const line of section.split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    if (cells.length < 4 || !cells[1]?.startsWith("`")) continue;
    for (const [, table] of (cells[1] as string).matchAll(/`([a-z_]+)`/g)) {
      placed.set(table as string, cells[2] as string);
    }
  }
  return placed;
}

interface PlanEntry {
  kind: "distributed" | "reference" | "local";
  column?: string;
}
const plan: Record<string, PlanEntry> = JSON.parse(
  readFileSync("scripts/distribution-plan.json", "utf8"),
).tables;

describe("docs/scale-out.md's tables", () => {
  const created = migrationTables();
  const documented = documentedTables();

  it("finds the migrations' tables and the page's", () => {
    expect(created.has("executions")).toBe(true);
    expect(created.has("executions_default")).toBe(false);
    expect(documented.get("executions")).toBe("distributed by `id`");
  });

  it("names every table a migration creates, and no other", () => {
    expect([...created].filter((table) => !documented.has(table)).sort(), "not on the page").toEqual([]);
    expect([...documented.keys()].filter((table) => !created.has(table)).sort(), "not made").toEqual([]);
  });

  it("places each table as the distribution plan does", () => {
    for (const [table, placement] of documented) {
      const entry = plan[table];
      const planned =
        entry?.kind === "distributed" ? `distributed by \`${entry.column}\`` : (entry?.kind ?? "not planned");
      // "local (the queue, see below)": the kind, and what the page adds about it.
      expect(placement.replace(/ \(.*\)$/, ""), table).toBe(planned);
    }
  });
});
