/**
 * `flowstore status`: where the store is, its schema version, every table with its rows and size, and
 * each queue with what it holds and what it has done.
 */

import type { QueueCount, Store } from "../index.js";

export interface TableStatus {
  name: string;
  rows: number;
  /** False when `rows` is an estimate (the planner's statistics): the table has more than exactUpTo rows. */
  exact: boolean;
  bytes: number;
}

export interface QueueStatus {
  queue: string;
  waiting: number;
  running: number;
  dead: number;
  /** The counts above that are estimates (more than 10,000 jobs of the queue have that status). */
  estimated: QueueCount[];
  /** Since the store began (jobs.totals()). */
  completed: number;
  failed: number;
}

export interface StoreStatus {
  connection: string;
  driver: string;
  server: string;
  schema: string;
  schemaVersion: number;
  pendingMigrations: number;
  tables: TableStatus[];
  queues: QueueStatus[];
}

export interface StatusOptions {
  /** Count a table's rows exactly up to this many (default 10,000); beyond, estimate them. */
  exactUpTo?: number;
}

export async function readStatus(store: Store, options: StatusOptions = {}): Promise<StoreStatus> {
  const migration = await store.migrationStatus();
  const server = await store.query<{ version: string }>(
    "select current_setting('server_version') as version",
  );
  const [tables, stats, totals] = await Promise.all([
    tableStatus(store, options.exactUpTo ?? 10_000),
    store.jobs.stats(),
    store.jobs.totals(),
  ]);
  const done = new Map(totals.map((t) => [t.queue, t]));
  // A queue whose jobs have all been completed (and deleted) is known by its totals alone.
  const names = [...new Set([...stats.map((q) => q.queue), ...done.keys()])].sort();
  const now = new Map(stats.map((q) => [q.queue, q]));
  return {
    connection: store.describe(),
    driver: store.driver.kind,
    server: `PostgreSQL ${server.rows[0]?.version ?? "?"}`,
    schema: store.schema,
    schemaVersion: migration.version,
    pendingMigrations: migration.pending,
    tables,
    queues: names.map((queue) => ({
      queue,
      waiting: now.get(queue)?.waiting ?? 0,
      running: now.get(queue)?.running ?? 0,
      dead: now.get(queue)?.dead ?? 0,
      estimated: now.get(queue)?.estimated ?? [],
      completed: done.get(queue)?.completed ?? 0,
      failed: done.get(queue)?.failed ?? 0,
    })),
  };
}

/**
 * Every table of the schema, a partitioned one once with all its partitions summed in. Rows are
 * counted up to the bound, which reads at most that many rows a table, so a small table is exact
 * (reltuples alone said 0 until the table's first ANALYZE, and PGlite runs no autovacuum); a bigger
 * one gets the larger of the planner's estimate and the statistics' live rows, and never less than
 * what was counted.
 */
async function tableStatus(store: Store, bound: number): Promise<TableStatus[]> {
  const { rows: tables } = await store.query<{
    name: string;
    qualified: string;
    bytes: number;
    estimate: number;
  }>(
    `select c.relname as name, format('%I.%I', n.nspname, c.relname) as qualified,
            coalesce(sum(pg_total_relation_size(leaf.relid)), 0)::float8 as bytes,
            coalesce(sum(greatest(p.reltuples, pg_stat_get_live_tuples(leaf.relid), 0)), 0)::float8 as estimate
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       left join lateral (
         select t.relid::oid as relid from pg_partition_tree(c.oid) t where t.isleaf
         union all
         select c.oid where c.relkind = 'r') leaf on true
       left join pg_class p on p.oid = leaf.relid
      where n.nspname = $1 and c.relkind in ('r', 'p') and not c.relispartition
      group by c.relname, n.nspname
      order by c.relname`,
    [store.schema],
  );
  if (tables.length === 0) return [];
  // One statement for all tables; their names are quoted by the server (format %I) above.
  const counts = await store.query<{ i: number; counted: number }>(
    tables
      .map(
        (t, i) =>
          `select ${i}::int as i, (select count(*) from (select 1 from ${t.qualified} limit $1) x)::float8 as counted`,
      )
      .join("\nunion all\n"),
    [bound + 1],
  );
  const counted = new Map(counts.rows.map((row) => [Number(row.i), Number(row.counted)]));
  return tables.map((t, i) => {
    const rows = counted.get(i) ?? 0;
    const exact = rows <= bound;
    return {
      name: t.name,
      rows: exact ? rows : Math.max(rows, Math.round(Number(t.estimate))),
      exact,
      bytes: Number(t.bytes),
    };
  });
}

export function printStatus(status: StoreStatus): string {
  const lines = [
    `connection  ${status.connection}`,
    `driver      ${status.driver} (${status.server})`,
    `schema      ${status.schema}, version ${status.schemaVersion}${status.pendingMigrations ? `, ${status.pendingMigrations} migration(s) pending: run flowstore migrate` : ", up to date"}`,
  ];
  if (status.tables.length) {
    lines.push("tables (~: an estimate)");
    const width = Math.max(...status.tables.map((t) => t.name.length));
    const rows = status.tables.map(
      (t) => `${t.exact ? "" : "~"}${t.rows.toLocaleString("en-US")} ${t.rows === 1 ? "row" : "rows"}`,
    );
    const rowsWidth = Math.max(...rows.map((r) => r.length));
    status.tables.forEach((table, i) => {
      lines.push(
        `  ${table.name.padEnd(width)}  ${(rows[i] as string).padStart(rowsWidth)}  ${formatBytes(table.bytes)}`,
      );
    });
  }
  if (status.queues.length) {
    lines.push("queues (now; completed and failed runs since the store began)");
    const width = Math.max(...status.queues.map((q) => q.queue.length));
    for (const q of status.queues) {
      const n = (count: QueueCount & keyof QueueStatus) =>
        `${q.estimated.includes(count) ? "~" : ""}${q[count]}`;
      lines.push(
        `  ${q.queue.padEnd(width)}  ${n("waiting")} waiting, ${n("running")} running, ${n("dead")} dead; ${q.completed} completed, ${q.failed} failed`,
      );
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
