/**
 * `flowstore status` on a schema without flowstore's tables (never migrated, or another --schema than
 * meant): instead of a missing relation, what is there, the version this flowstore would install and
 * the command that installs it, and an exit code of its own (docs/cli.md) that a script can tell from
 * a failure.
 */

import type { Store } from "../index.js";

/** `flowstore status`'s exit code when the schema holds no flowstore tables. */
export const SCHEMA_ABSENT_EXIT = 3;

export interface AbsentSchema {
  connection: string;
  driver: string;
  server: string;
  schema: string;
  schemaVersion: 0;
  pendingMigrations: number;
  schemaAbsent: true;
  /** False: the schema is there, but holds no flowstore tables. */
  schemaExists: boolean;
  /** The version `flowstore migrate` would bring the schema to. */
  installsVersion: number;
  /** The command that installs it, with the flags that named the store (a password shown as ***). */
  migrate: string;
  /** Empty, as in a status of a store: there is nothing in it yet. */
  tables: [];
  queues: [];
}

/** What status reports when the store's schema holds no flowstore tables; null when it does. */
export async function absentSchema(store: Store, migrateFlags: string[]): Promise<AbsentSchema | null> {
  const migration = await store.migrationStatus();
  if (migration.version > 0) return null;
  const { rows } = await store.query<{ version: string; exists: boolean }>(
    `select current_setting('server_version') as version,
            exists (select 1 from pg_namespace where nspname = $1) as exists`,
    [store.schema],
  );
  return {
    connection: store.describe(),
    driver: store.driver.kind,
    server: `PostgreSQL ${rows[0]?.version ?? "?"}`,
    schema: store.schema,
    schemaVersion: 0,
    pendingMigrations: migration.pending,
    schemaAbsent: true,
    schemaExists: rows[0]?.exists === true,
    installsVersion: migration.pending,
    migrate: ["flowstore", "migrate", ...migrateFlags].join(" "),
    tables: [],
    queues: [],
  };
}

export function printAbsentSchema(absent: AbsentSchema): string {
  const what = absent.schemaExists ? "holds no flowstore tables" : "does not exist";
  return [
    `connection  ${absent.connection}`,
    `driver      ${absent.driver} (${absent.server})`,
    `schema      ${absent.schema} ${what}: nothing to show; this flowstore installs version ${absent.installsVersion}`,
    `run         ${absent.migrate}`,
  ].join("\n");
}
