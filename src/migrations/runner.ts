/**
 * Migrations are numbered .sql files (`0001_name.sql`), applied in order, each in its own
 * transaction under an advisory lock on the schema, and recorded with a checksum. Ten processes
 * opening a fresh store at once apply each migration exactly once: whoever holds the lock applies
 * the next pending file, the others then find it recorded.
 *
 * Nearly every open finds the schema up to date: that takes a read of the record, without the lock,
 * a transaction or the DDL (nor the CREATE privilege it needs), so a process that starts often (a
 * server on the embedded store) pays no more. In a migration's transaction the lock goes with the
 * schema's creation, and the file with its record.
 */

import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ConnectionError, MigrationError, StoreError } from "../core/errors.js";
import { optionKeys, refuseUnknownKeys } from "../core/input.js";
import type { Logger } from "../core/logger.js";
import type { Driver, Queryable } from "../db/driver.js";
import { quoteIdentifier } from "../db/sql.js";

export interface Migration {
  id: number;
  name: string;
  /** The file's text, with `:SCHEMA` where the schema name goes. */
  sql: string;
  checksum: string;
}

export interface MigrateResult {
  /** Names of the migrations this call applied (empty when the schema was up to date). */
  applied: string[];
  /** The id of the newest migration now in the database. */
  version: number;
}

/** Told of each migration a call applies: as it starts (under the lock), and once committed, with its time. */
export interface MigrationProgress {
  applying?(migration: string): void;
  applied?(migration: string, ms: number): void;
}

export interface MigrateOptions {
  /** Told of each migration as it is applied, e.g. to print progress (the CLI does). */
  progress?: MigrationProgress;
}

const MIGRATE_KEYS = optionKeys<MigrateOptions>({ progress: true });

const SQL_DIR = fileURLToPath(new URL("./sql/", import.meta.url));
const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;

let cached: Migration[] | undefined;

export function loadMigrations(): Migration[] {
  if (cached) return cached;
  const migrations = readdirSync(SQL_DIR)
    .filter((file) => file.endsWith(".sql"))
    .map((file) => {
      const match = FILE_NAME.exec(file);
      if (!match) throw new MigrationError(`migration file ${file} is not named NNNN_name.sql`);
      // Line endings are normalised so a checkout with CRLF does not look like a tampered migration.
      const sql = readFileSync(`${SQL_DIR}${file}`, "utf8").replaceAll("\r\n", "\n");
      return { id: Number(match[1]), name: match[2] as string, sql, checksum: checksum(sql) };
    })
    .sort((a, b) => a.id - b.id);
  migrations.forEach((migration, index) => {
    if (migration.id !== index + 1) throw new MigrationError(`migration ${index + 1} is missing`);
  });
  cached = migrations;
  return migrations;
}

export function checksum(sql: string): string {
  return createHash("sha256").update(sql).digest("hex");
}

export function renderMigration(migration: Pick<Migration, "sql">, schema: string): string {
  return migration.sql.replaceAll(":SCHEMA", quoteIdentifier(schema));
}

export function latestVersion(): number {
  return loadMigrations().length;
}

/** The whole DDL as one script, for users who apply migrations with their own tool. */
export function migrationScript(schema: string, migrations: Migration[] = loadMigrations()): string {
  const q = quoteIdentifier(schema);
  const parts = [
    `-- flowstore schema ${schema}, migrations 1..${migrations.length}`,
    "begin;",
    `create schema if not exists ${q};`,
  ];
  for (const migration of migrations) {
    parts.push(
      `\n-- ${String(migration.id).padStart(4, "0")}_${migration.name}`,
      renderMigration(migration, schema).trim(),
    );
    parts.push(
      `insert into ${q}.migrations (id, name, checksum) values (${migration.id}, '${migration.name}', '${migration.checksum}');`,
    );
  }
  parts.push("commit;", "");
  return parts.join("\n");
}

/** A stable 64-bit advisory lock key per schema, so stores in different schemas never wait on each other. */
function lockKey(schema: string): string {
  return createHash("sha256").update(`flowstore:migrate:${schema}`).digest().readBigInt64BE(0).toString();
}

interface AppliedRow {
  id: number;
  name: string;
  checksum: string;
}

async function readApplied(tx: Queryable, schema: string): Promise<AppliedRow[]> {
  const exists = await tx.query<{ table: string | null }>("select to_regclass($1)::text as table", [
    `${quoteIdentifier(schema)}.migrations`,
  ]);
  if (!exists.rows[0]?.table) return [];
  const result = await tx.query<AppliedRow>(
    `select id, name, checksum from ${quoteIdentifier(schema)}.migrations order by id`,
  );
  return result.rows;
}

function verify(applied: AppliedRow[], known: Migration[], schema: string): void {
  for (const row of applied) {
    const migration = known[row.id - 1];
    if (!migration) {
      throw new MigrationError(
        `schema ${schema} has migration ${row.id} (${row.name}), newer than this flowstore knows (${known.length}); upgrade flowstore`,
      );
    }
    if (migration.checksum !== row.checksum) {
      throw new MigrationError(
        `migration ${row.id} (${row.name}) in schema ${schema} differs from the one applied (checksum ${row.checksum.slice(0, 12)}, now ${migration.checksum.slice(0, 12)}); a migration must never change once applied`,
      );
    }
  }
}

/** Reads the migration state without changing anything. */
export async function migrationStatus(
  db: Queryable,
  schema: string,
): Promise<{ version: number; pending: number }> {
  const known = loadMigrations();
  const applied = await readApplied(db, schema);
  verify(applied, known, schema);
  return { version: applied.length, pending: known.length - applied.length };
}

export async function migrate(
  db: Driver,
  schema: string,
  logger: Logger,
  known: Migration[] = loadMigrations(),
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  refuseUnknownKeys(options, MIGRATE_KEYS);
  const { progress } = options;
  const q = quoteIdentifier(schema);
  const failed = async (error: unknown): Promise<never> => {
    // A server that is not there is a connection problem, not a broken migration.
    if (error instanceof MigrationError || error instanceof ConnectionError) throw error;
    const store = error instanceof StoreError ? error : undefined;
    const hint = store?.sqlState === "42501" ? await grantHint(db, schema, store.message) : "";
    throw new MigrationError(`migrating schema ${schema} failed: ${(error as Error).message}${hint}`, {
      cause: error,
      sqlState: store?.sqlState,
    });
  };
  const current = await readApplied(db, schema).catch(failed);
  verify(current, known, schema);
  if (current.length === known.length) return { applied: [], version: current.length };
  const applied: string[] = [];
  for (;;) {
    const started = performance.now();
    const step = await db
      .transaction(async (tx) => {
        // The key is a number this module computed: safe as a literal, and one round trip with the DDL.
        await tx.exec(`select pg_advisory_xact_lock(${lockKey(schema)}); create schema if not exists ${q}`);
        const done = await readApplied(tx, schema);
        verify(done, known, schema);
        const next = known[done.length];
        if (!next) return { version: done.length, applied: undefined };
        progress?.applying?.(migrationName(next));
        // id, name ([a-z0-9_]) and checksum (hex) come from loadMigrations: literals need no quoting.
        await tx.exec(
          `${renderMigration(next, schema).trim()}\n;\ninsert into ${q}.migrations (id, name, checksum) values (${next.id}, '${next.name}', '${next.checksum}')`,
        );
        return { version: next.id, applied: migrationName(next) };
      })
      .catch(failed);
    if (!step.applied) return { applied, version: step.version };
    const ms = Math.round(performance.now() - started);
    logger.info({ schema, migration: step.applied, ms }, "flowstore: applied migration");
    progress?.applied?.(step.applied, ms);
    applied.push(step.applied);
  }
}

/**
 * What to grant, after a migration was refused for want of a privilege (42501): a role that may not
 * create schemas in the database, or tables in the schema, is the usual first contact with a managed
 * server. Said with the role and database the server reports; empty if it cannot say.
 */
async function grantHint(db: Driver, schema: string, message: string): Promise<string> {
  const who = await db
    .query<{ role: string; database: string }>("select current_user as role, current_database() as database")
    .then((result) => result.rows[0])
    .catch(() => undefined);
  if (!who) return "";
  // Any name the server reports, quoted as SQL would (quoteIdentifier takes schema names only).
  const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;
  const role = quoted(who.role);
  const grant = /permission denied for schema/.test(message)
    ? `grant usage, create on schema ${quoteIdentifier(schema)} to ${role}`
    : `grant create on database ${quoted(who.database)} to ${role}`;
  return `; the role ${who.role} may not create what the store needs: have the database's owner run \`${grant}\`, or have someone who may create run the DDL that \`flowstore sql --schema ${schema}\` prints`;
}

/** `0012_events_signals`: the migration's file name without `.sql`. */
function migrationName(migration: Pick<Migration, "id" | "name">): string {
  return `${String(migration.id).padStart(4, "0")}_${migration.name}`;
}

/** A read-only store never migrates: the schema must already be at this flowstore's version. */
export async function requireCurrentSchema(driver: Driver, schema: string): Promise<void> {
  const { version, pending } = await migrationStatus(driver, schema);
  if (pending === 0) return;
  const needs = `this flowstore needs version ${version + pending}, and a store opened with readOnly: true never migrates`;
  throw new MigrationError(
    version === 0
      ? `schema ${schema} holds no flowstore tables: ${needs}; migrate it first, on the primary (flowstore migrate)`
      : `schema ${schema} is at version ${version}: ${needs}; migrate it first, on the primary (flowstore migrate)`,
  );
}
