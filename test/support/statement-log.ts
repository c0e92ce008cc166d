/**
 * Every distinct statement a test server ran, from pg_stat_statements: gathered during the run and
 * written at its end, so that the statements run on one PostgreSQL version can be checked against
 * those run on another (scripts/test-matrix.mjs). Statements are keyed by their text with each test's
 * own names made generic (genericStatement), since every test file and store has its own.
 *
 * pg_stat_statements keeps an entry per statement text and database, and every test file has a
 * database and schemas of its own: a whole run makes far more entries than it can hold, and the
 * extension silently drops the least used ones when full. So the entries are harvested every few
 * seconds (each read and reset in one statement, so none is lost between the two), and a run that
 * still lost some says so rather than pass a check it could not make.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { byFileName, genericStatement } from "../../scripts/matrix-plan.mjs";

/** Server settings that make it keep every statement's text. */
export const recordStatements: Record<string, string | number> = {
  shared_preload_libraries: "pg_stat_statements",
  "pg_stat_statements.max": 20_000,
  "pg_stat_statements.track": "top",
  "pg_stat_statements.track_utility": "off",
};

/**
 * Which test file each database belongs to, kept in the server's `postgres` database rather than on the
 * file's own: a file drops its database when it ends, and its last statements are harvested after.
 */
const FILE_NAMES = "flowstore_test_files";

/** Makes the table of file names (once per server, before any file runs). */
export async function makeFileNames(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`create table if not exists ${FILE_NAMES} (dbid oid primary key, file text not null)`);
  } finally {
    await client.end();
  }
}

/** The statement, run in the `postgres` database, that names `file` (a test file's path) as the user of database `name`. */
export function nameTestFile(database: string, file: string): string {
  return `insert into ${FILE_NAMES} (dbid, file) select oid, ${pg.escapeLiteral(file)} from pg_database where datname = ${pg.escapeLiteral(database)}`;
}

export interface StatementLog {
  /** Harvests what is left, stops, and writes the statements to `file` and by test file beside it. */
  save(file: string): Promise<void>;
}

/** Starts harvesting the statements of the server at `url`. */
export async function logStatements(url: string, everyMs = 3_000): Promise<StatementLog> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query("create extension if not exists pg_stat_statements");
  await client.query("select pg_stat_statements_reset()");
  const byFile = new Map<string, Set<string>>();
  let running: Promise<void> = Promise.resolve();
  const harvest = () => {
    running = running.then(async () => {
      // The set-returning function is read whole before any row's reset runs, and an entry made
      // meanwhile is either in the rows (and reset) or left for the next harvest.
      const { rows } = await client.query<{ query: string; file: string | null }>(
        `select s.query, f.file, pg_stat_statements_reset(s.userid, s.dbid, s.queryid)
           from pg_stat_statements s left join ${FILE_NAMES} f on f.dbid = s.dbid`,
      );
      for (const row of rows) {
        const text = genericStatement(row.query);
        if (!text) continue;
        const file = row.file ?? "(no test file)";
        const texts = byFile.get(file) ?? new Set<string>();
        byFile.set(file, texts);
        texts.add(text);
      }
    });
    return running;
  };
  const timer = setInterval(() => void harvest().catch(() => {}), everyMs);
  timer.unref();
  return {
    async save(file) {
      clearInterval(timer);
      await running.catch(() => {});
      await harvest();
      const { rows } = await client.query<{ dealloc: string }>("select dealloc from pg_stat_statements_info");
      await client.end();
      const lost = Number(rows[0]?.dealloc ?? 0);
      const all = new Set([...byFile.values()].flatMap((texts) => [...texts]));
      writeFileSync(file, `${[...all].sort().join("\n")}\n`);
      const perFile = Object.fromEntries(
        [...byFile].sort(([a], [b]) => a.localeCompare(b)).map(([name, texts]) => [name, [...texts].sort()]),
      );
      writeFileSync(byFileName(file), JSON.stringify(perFile, null, 1));
      if (lost > 0) {
        throw new Error(
          `pg_stat_statements dropped statements ${lost} time(s) during the run: ${path.basename(file)} is incomplete`,
        );
      }
    },
  };
}
