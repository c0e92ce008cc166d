/**
 * One retention run of the history bench, measured from outside: seconds, WAL written (the server's
 * insert position before and after), the schema's tables and indexes on disk before and after, and
 * the VACUUM that the run leaves to do (what a DELETE leaves behind, a drop does not).
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import type { StatementCounter, StatementCounts } from "../lib.js";

export interface RetentionFigures {
  seconds: number;
  walBytes: number;
  sizeBefore: number;
  sizeAfter: number;
  vacuumSeconds: number;
  sizeAfterVacuum: number;
  /** What the server ran meanwhile (pg_stat_statements), when a counter was given. */
  statements?: StatementCounts;
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
  counter?: StatementCounter,
): Promise<RetentionFigures> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("checkpoint");
    const sizeBefore = await size(client, schema);
    const from = await walPosition(client);
    await counter?.reset(url);
    const started = performance.now();
    await retention();
    const seconds = (performance.now() - started) / 1000;
    const statements = await counter?.read(url);
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
      statements,
    };
  } finally {
    await client.end();
  }
}

/**
 * The steps of a range's drop (src/partitions/drop.ts, src/retention/partitions.ts), told apart by
 * their statements' text, first match wins; what matches none is the prune's own work around the drop.
 */
const STEPS: readonly [string, RegExp][] = [
  ["runs that stay, under the locks", /flowstore_keep_now/],
  ["runs that stay", /(create temporary table|alter table) flowstore_keep /],
  ["count of the range's runs", /count\(\*\) from flowstore_keep/],
  ["probes of the tables outside the partitions", /^select exists \(select/],
  ["locks", /do \$lock\$/],
  ["put back", /^insert into .* from "?flowstore_aside/],
  ["set aside", /flowstore_aside_/],
  ["detach the executions partition", /detach partition/],
  ["drop the partitions", /^drop table/],
  ["begin, savepoints, commit (server time only)", /^(begin|commit|savepoint|release)/i],
];

/** The server time of each step of a drop, from what pg_stat_statements counted during it. */
export function dropBreakdown(counts: StatementCounts): { step: string; statements: number; ms: number }[] {
  const steps = new Map<string, { statements: number; ms: number }>();
  for (const { query, calls, ms } of counts.statements) {
    const text = query.replace(/\s+/g, " ").trim();
    let step = STEPS.find(([, pattern]) => pattern.test(text))?.[0];
    // What the runs that go own outside the partitions (onGone): statements among their ids, a query.
    if (!step && text.includes("select ids.id")) {
      step = `deleted outside the partitions: ${/delete from "?\w+"?\.(\w+)/.exec(text)?.[1] ?? "?"}`;
    }
    step ??= "the prune's own (ranges listed, the runs past the range pruned row by row)";
    const sum = steps.get(step) ?? { statements: 0, ms: 0 };
    steps.set(step, { statements: sum.statements + calls, ms: sum.ms + ms });
  }
  return [...steps].map(([step, sum]) => ({ step, ...sum })).sort((a, b) => b.ms - a.ms);
}
