/**
 * Part 4 of the history bench: big values out of the row. The same workload goes to two stores on
 * the server, one keeping every value in its row, one with `limits.offloadAbove` (8 KiB): runs that
 * each append five events (one with a 32 KiB payload), record a step with a 32 KiB output, set a
 * 32 KiB state, and complete. Prints the size on disk per run (the rows' tables, and the blob store's),
 * the time to write a run, and p50 of the reads and writes that touch the big values, taking turns; and
 * for a state of 32 KiB changed one key at a time, `update` with the whole state against `mergeState`
 * with the key (time and WAL per change).
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { openStore, type Store } from "../../src/index.js";
import { type BenchContext, log, percentiles, type Row, table, throughput } from "../lib.js";

const VALUE_BYTES = 32 * 1024;
const OFFLOAD_ABOVE = 8 * 1024;
const KB = 1024;

/** A JSON value of about VALUE_BYTES: records of random text, which compresses as little as real output. */
function bigValue(): { items: { id: number; text: string }[] } {
  const items = [];
  for (let id = 0, size = 0; size < VALUE_BYTES; id++) {
    const text = randomBytes(72).toString("base64");
    items.push({ id, text });
    size += text.length + 20;
  }
  return { items };
}

interface Mode {
  name: string;
  store: Store;
  url: string;
  runs: string[];
}

async function writeRun(store: Store): Promise<string> {
  const { execution } = await store.executions.start({ name: "offload-bench", status: "running" });
  const id = execution.id;
  await store.events.append(id, [
    { type: "started", payload: { at: 1 } },
    { type: "tool_called", payload: { tool: "search" } },
    { type: "tool_result", payload: bigValue() },
    { type: "decided", payload: { next: "answer" } },
    { type: "answered", payload: { ok: true } },
  ]);
  await store.steps.record({ executionId: id, number: 0, name: "generate", output: bigValue() });
  await store.executions.update(id, { state: bigValue() });
  await store.executions.complete(id, { ok: true });
  return id;
}

async function sizes(store: Store): Promise<{ rows: number; blobs: number }> {
  const { rows } = await store.query<{ blobs: boolean; bytes: string }>(
    `select c.relname in ('blobs', 'blob_chunks') as blobs, sum(pg_total_relation_size(c.oid))::bigint as bytes
       from pg_class c where c.relnamespace = 'flowstore'::regnamespace and c.relkind = 'r'
      group by 1`,
  );
  const of = (blobs: boolean) => Number(rows.find((row) => row.blobs === blobs)?.bytes ?? 0);
  return { rows: of(false), blobs: of(true) };
}

async function walBytes(store: Store, work: () => Promise<void>): Promise<number> {
  const lsn = async () =>
    (await store.query<{ lsn: string }>("select pg_current_wal_insert_lsn()::text as lsn")).rows[0]?.lsn;
  const from = await lsn();
  await work();
  const to = await lsn();
  const { rows } = await store.query<{ bytes: string }>("select pg_wal_lsn_diff($1, $2)::bigint as bytes", [
    to,
    from,
  ]);
  return Number(rows[0]?.bytes ?? 0);
}

export async function measureOffload(context: BenchContext): Promise<void> {
  const runs = Math.max(100, Math.round(Number(process.env.BENCH_OFFLOAD_RUNS ?? 2_000) * context.scale));
  log(
    `\nbig values: ${runs.toLocaleString("en-US")} runs per store, each with a ${VALUE_BYTES / KB} KiB event payload, ` +
      `step output and state (random text), in the row against offloadAbove ${OFFLOAD_ABOVE / KB} KiB (PostgreSQL blob chunks)`,
  );
  const modes: Mode[] = [];
  const written: Row[] = [];
  for (const [name, offloadAbove] of [
    ["in the row", undefined],
    [`offloaded above ${OFFLOAD_ABOVE / KB} KiB`, OFFLOAD_ABOVE],
  ] as const) {
    const url = await context.freshDatabase();
    const store = await openStore({ connection: url, limits: { offloadAbove } });
    const ids: string[] = [];
    const started = performance.now();
    const perSecond = await throughput(runs, 8, async () => {
      ids.push(await writeRun(store));
    });
    const seconds = (performance.now() - started) / 1000;
    await store.query("vacuum analyze");
    const size = await sizes(store);
    modes.push({ name, store, url, runs: ids });
    written.push({
      values: name,
      "runs/s (8 writers)": perSecond,
      "rows KB/run": size.rows / ids.length / KB,
      "blob store KB/run": size.blobs / ids.length / KB,
      "total KB/run": (size.rows + size.blobs) / ids.length / KB,
      "rows MB": size.rows / KB / KB,
      seconds,
    });
  }
  table("Size on disk per run, and the time to write the runs", written);

  const rounds = Math.max(200, Math.round(1_000 * context.scale));
  const operations = [
    "executions.get",
    "events.list",
    "steps.list",
    "update (whole state)",
    "mergeState (one key)",
  ];
  const times = modes.map(() => Object.fromEntries(operations.map((op) => [op, [] as number[]])));
  const wal = modes.map(() => ({ update: 0, merge: 0 }));
  const state = bigValue();
  for (let block = 0; block < rounds; block += 50) {
    for (const [m, mode] of modes.entries()) {
      const t = times[m] as Record<string, number[]>;
      const timed = async (op: string, work: () => Promise<unknown>) => {
        const started = performance.now();
        await work();
        t[op]?.push(performance.now() - started);
      };
      for (let i = block; i < block + 50; i++) {
        const id = mode.runs[Math.floor(Math.random() * mode.runs.length)] as string;
        await timed("executions.get", () => mode.store.executions.get(id));
        await timed("events.list", () => mode.store.events.list(id));
        await timed("steps.list", () => mode.store.steps.list(id));
      }
      // One run's state changed one key at a time: all of it sent and written, or the key alone.
      const id = mode.runs[block % mode.runs.length] as string;
      const w = wal[m] as { update: number; merge: number };
      w.update += await walBytes(mode.store, async () => {
        for (let i = 0; i < 10; i++) {
          state.items[0] = { id: i, text: `step ${block + i}` };
          await timed("update (whole state)", () => mode.store.executions.update(id, { state }));
        }
      });
      w.merge += await walBytes(mode.store, async () => {
        for (let i = 0; i < 10; i++) {
          await timed("mergeState (one key)", () =>
            mode.store.executions.mergeState(id, { cursor: block + i }),
          );
        }
      });
    }
  }
  const changes = (rounds / 50) * 10;
  table(
    `p50 of ${rounds} reads of a random run and ${changes} changes of a ${VALUE_BYTES / KB} KiB state, per store (ms), taking turns`,
    operations.map((op) => {
      const row: Row = { operation: op };
      for (const [m, mode] of modes.entries()) {
        row[`${mode.name} p50`] = percentiles((times[m] as Record<string, number[]>)[op] ?? []).p50;
      }
      const [inRow, offloaded] = modes.map(
        (_, m) => percentiles((times[m] as Record<string, number[]>)[op] ?? []).p50,
      );
      row["offloaded / in row"] = (offloaded ?? 0) / (inRow ?? 1);
      return row;
    }),
  );
  table(
    "WAL per change of the state (KB)",
    modes.map((mode, m) => ({
      values: mode.name,
      "update (whole state)": (wal[m]?.update ?? 0) / changes / KB,
      "mergeState (one key)": (wal[m]?.merge ?? 0) / changes / KB,
    })),
  );
  for (const mode of modes) {
    await mode.store.close();
    await context.dropDatabase(mode.url);
  }
}
