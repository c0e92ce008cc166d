/**
 * One retention run of the history bench, measured from outside: seconds, WAL written (the server's
 * insert position before and after), the schema's tables and indexes on disk before and after, and
 * the VACUUM that the run leaves to do (what a DELETE leaves behind, a drop does not).
 */
import { performance } from "node:perf_hooks";
import pg from "pg";

export interface RetentionFigures {
  seconds: number;
  walBytes: number;
  sizeBefore: number;
  sizeAfter: number;
  vacuumSeconds: number;
  sizeAfterVacuum: number;
}

async function size(client: pg.Client, schema: string): Promise<number> {
  const { rows } = await client.query<{ bytes: string }>(
    `select coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint as bytes
       from pg_class c where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'm')`,
    [schema],
  );
  return Number(rows[0]?.bytes ?? 0);
}

async function walPosition(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ lsn: string }>("select pg_current_wal_insert_lsn()::text as lsn");
  return rows[0]?.lsn as string;
}

/** Runs `retention` (which prunes the store on `url`) and measures it. Nothing else may run meanwhile. */
export async function measureRetention(
  url: string,
  schema: string,
  retention: () => Promise<unknown>,
): Promise<RetentionFigures> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("checkpoint");
    const sizeBefore = await size(client, schema);
    const from = await walPosition(client);
    const started = performance.now();
    await retention();
    const seconds = (performance.now() - started) / 1000;
    const to = await walPosition(client);
    const { rows } = await client.query<{ bytes: string }>(
      "select pg_wal_lsn_diff($1, $2)::bigint as bytes",
      [to, from],
    );
    const sizeAfter = await size(client, schema);
    const vacuumStarted = performance.now();
    await client.query("vacuum");
    const vacuumSeconds = (performance.now() - vacuumStarted) / 1000;
    return {
      seconds,
      walBytes: Number(rows[0]?.bytes ?? 0),
      sizeBefore,
      sizeAfter,
      vacuumSeconds,
      sizeAfterVacuum: await size(client, schema),
    };
  } finally {
    await client.end();
  }
}
