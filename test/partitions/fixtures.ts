/** Runs of a chosen time and where their rows sit, for the history partitions' tests. */
import type { Store } from "../../src/index.js";
import { uuidFloor } from "../../src/partitions/index.js";
import { seed } from "../support/retention-fixtures.js";

/** A UUIDv7 of the millisecond `at`, told apart from others of it by `n`. */
export function idAt(at: Date, n: number): string {
  return `${uuidFloor(at).slice(0, 14)}7000-8000-${n.toString(16).padStart(12, "0")}`;
}

/** On Citus, whose distributed queries have no tableoid, a table's rows are found partition by partition. */
const ON_CITUS = process.env.FLOWSTORE_TEST_POSTGRES === "citus";

async function partitionsHolding(store: Store, table: string, column: string, id: string): Promise<string[]> {
  const { rows: partitions } = await store.query<{ name: string }>(
    `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = $1::regclass order by 1`,
    [`"${store.schema}".${table}`],
  );
  const holding: string[] = [];
  for (const { name } of partitions) {
    const { rows } = await store.query(
      `select 1 from "${store.schema}"."${name}" where ${column} = $1 limit 1`,
      [id],
    );
    if (rows.length > 0) holding.push(name);
  }
  return holding;
}

/** Where each table keeps the rows of `id`: the partitions' names, without the table's. */
export async function placeOf(store: Store, id: string): Promise<Record<string, string[]>> {
  const s = `"${store.schema}"`;
  const place: Record<string, string[]> = {};
  for (const [table, column] of [
    ["executions", "id"],
    ["tasks", "execution_id"],
    ["component_state", "execution_id"],
    ["event_heads", "execution_id"],
    ["events", "execution_id"],
    ["steps", "execution_id"],
    ["streams", "execution_id"],
    ["stream_chunks", "execution_id"],
    ["jobs_history", "execution_id"],
  ] as const) {
    const parts = ON_CITUS ? await partitionsHolding(store, table, column, id) : undefined;
    const { rows } = parts
      ? { rows: parts.map((part) => ({ part })) }
      : await store.query<{ part: string }>(
          `select distinct c.relname as part from ${s}.${table} t join pg_class c on c.oid = t.tableoid
            where t.${column} = $1`,
          [id],
        );
    place[table] = rows.map((row) => row.part.replace(`${table}_`, ""));
  }
  return place;
}

const definitions = new WeakMap<Store, Promise<string>>();

/** `seed` (a run with one of each thing it can own) of the id given, under a definition of the store's. */
export async function seedAt(store: Store, status: string, id: string, parent?: string): Promise<string> {
  if (!definitions.has(store)) {
    const made = store.definitions.create({ name: "d", definition: {}, status: "active" }).then((d) => d.id);
    definitions.set(store, made);
  }
  return seed(store, (await definitions.get(store)) as string, status, 0, parent, id);
}

/** Every partitioned table's rows of a run in the partitions of one range (or `default`). */
export function everywhere(part: string): Record<string, string[]> {
  const tables = ["executions", "tasks", "component_state", "event_heads", "events", "steps", "streams"];
  return Object.fromEntries([...tables, "stream_chunks", "jobs_history"].map((table) => [table, [part]]));
}
