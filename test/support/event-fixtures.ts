/** Shared by the events and signals tests: runs to hang history on, and what a refused write must leave. */
import { expect } from "vitest";
import type { Store, StoreError } from "../../src/index.js";
import { rowCounts } from "./fuzz-inputs.js";
import { definition } from "./workflow-fixtures.js";

/** `n` running executions of a new definition; returns their ids. */
export async function runs(store: Store, n = 1): Promise<string[]> {
  const def = await definition(store);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push((await store.executions.start({ definitionId: def.id, status: "running" })).execution.id);
  }
  return ids;
}

/** Every row of the history and signal tables, and every table's row count. */
export async function historyState(store: Store): Promise<unknown> {
  const rows = async (table: string, order: string) =>
    (await store.query(`select * from "${store.schema}".${table} order by ${order}`)).rows;
  return {
    counts: await rowCounts(store),
    events: await rows("events", "execution_id, seq"),
    heads: await rows("event_heads", "execution_id"),
    signals: await rows("signals", "token"),
  };
}

/** `write` fails with `errorClass` and leaves every table as it was. */
export async function refused(
  store: Store,
  write: () => Promise<unknown>,
  errorClass: new (...args: never[]) => StoreError,
): Promise<void> {
  const before = await historyState(store);
  await expect(write()).rejects.toBeInstanceOf(errorClass);
  expect(await historyState(store)).toEqual(before);
}

/** The statement `events.list` (and so `events.wait`) reads a history with. */
export const isHistoryRead = (sql: string) => /from \S+\.events where execution_id = \$1/.test(sql);
