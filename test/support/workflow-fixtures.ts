/** Small builders shared by the workflow-state tests. */
import type { Definition, Store, StoreScope } from "../../src/index.js";

let names = 0;

export async function definition(
  store: StoreScope,
  status: "draft" | "active" = "active",
): Promise<Definition> {
  return store.definitions.create({ name: `flow-${++names}`, definition: { steps: ["a", "b"] }, status });
}

/** A definition and one execution of it. */
export async function execution(store: StoreScope, definitionId?: string) {
  const id = definitionId ?? (await definition(store)).id;
  const { execution } = await store.executions.start({ definitionId: id, input: { n: 1 } });
  return execution;
}

/** `n` completed executions of a new definition, finished `ageDays` ago, written in one statement. */
export async function finishedExecutions(store: Store, n: number, ageDays: number): Promise<void> {
  const def = await definition(store);
  await store.query(
    `insert into "${store.schema}".executions (id, definition_id, name, status, completed_at)
     select gen_random_uuid(), $1, $4, 'completed', now() - $3::int * interval '1 day' from generate_series(1, $2)`,
    [def.id, n, ageDays, def.name],
  );
}

export async function countRows(store: Store, table: string): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::int as n from "${store.schema}".${table}`,
  );
  return rows[0]?.n ?? -1;
}

/** Every table the workflow state lives in, with its row count. */
export async function counts(store: Store): Promise<Record<string, number>> {
  const tables = ["definitions", "executions", "tasks", "component_state", "correlations"];
  const result: Record<string, number> = {};
  for (const table of tables) result[table] = await countRows(store, table);
  return result;
}
