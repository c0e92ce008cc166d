/**
 * Every distinct statement a test server ran, from pg_stat_statements: written at the end of a run so
 * that the statements run on one PostgreSQL version can be checked against those run on another
 * (scripts/test-matrix.mjs). Statements are keyed by their text with each test's own names made
 * generic (genericStatement), since every test file and store has its own.
 */
import { writeFileSync } from "node:fs";
import pg from "pg";
import { genericStatement } from "../../scripts/matrix-plan.mjs";

/** Server settings that make it keep every statement's text. */
export const recordStatements: Record<string, string | number> = {
  shared_preload_libraries: "pg_stat_statements",
  "pg_stat_statements.max": 50_000,
  "pg_stat_statements.track": "top",
  "pg_stat_statements.track_utility": "off",
};

/** Writes one statement a line (newlines folded), sorted, to `file`. */
export async function saveStatements(url: string, file: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("create extension if not exists pg_stat_statements");
    const { rows } = await client.query<{ query: string }>("select query from pg_stat_statements");
    const texts = new Set(rows.map((row) => genericStatement(row.query)).filter(Boolean));
    writeFileSync(file, `${[...texts].sort().join("\n")}\n`);
  } finally {
    await client.end();
  }
}
