/** `flowstore status`: where the store is, its schema version, and how big its tables are. */

import type { Store } from "../index.js";

export interface StoreStatus {
  connection: string;
  driver: string;
  server: string;
  schema: string;
  schemaVersion: number;
  pendingMigrations: number;
  tables: Array<{ name: string; rows: number; bytes: number }>;
}

export async function readStatus(store: Store): Promise<StoreStatus> {
  const migration = await store.migrationStatus();
  const server = await store.query<{ version: string }>(
    "select current_setting('server_version') as version",
  );
  // reltuples is the planner's estimate: free to read, unlike count(*) on a big table. A partitioned
  // table is listed once, with the rows and bytes of all its partitions.
  const tables = await store.query<{ name: string; rows: number; bytes: number }>(
    `select c.relname as name,
            coalesce(sum(greatest(p.reltuples, 0)), 0)::bigint as rows,
            coalesce(sum(pg_total_relation_size(p.oid)), 0)::bigint as bytes
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       cross join lateral (select relid from pg_partition_tree(c.oid) where isleaf) leaf
       join pg_class p on p.oid = leaf.relid
      where n.nspname = $1 and c.relkind in ('r', 'p') and not c.relispartition
      group by c.relname
      order by c.relname`,
    [store.schema],
  );
  return {
    connection: store.describe(),
    driver: store.driver.kind,
    server: `PostgreSQL ${server.rows[0]?.version ?? "?"}`,
    schema: store.schema,
    schemaVersion: migration.version,
    pendingMigrations: migration.pending,
    tables: tables.rows,
  };
}

export function printStatus(status: StoreStatus): string {
  const lines = [
    `connection  ${status.connection}`,
    `driver      ${status.driver} (${status.server})`,
    `schema      ${status.schema}, version ${status.schemaVersion}${status.pendingMigrations ? `, ${status.pendingMigrations} migration(s) pending: run flowstore migrate` : ", up to date"}`,
  ];
  if (status.tables.length) {
    lines.push("tables");
    const width = Math.max(...status.tables.map((t) => t.name.length));
    for (const table of status.tables) {
      lines.push(`  ${table.name.padEnd(width)}  ~${table.rows} rows  ${formatBytes(table.bytes)}`);
    }
  }
  return lines.join("\n");
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
