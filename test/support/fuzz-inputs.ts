/**
 * What the property test over the write methods generates, and how it judges a call: good and bad
 * inputs of every kind, and the rule that a refused write changes no table.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { type Store, StoreError } from "../../src/index.js";

export const SEED = 20_240_613;
export const RUNS = 40;

export const EXPECTED_CODES = new Set(["VALIDATION", "CONFLICT", "NOT_FOUND"]);

/** A JSON value nested `depth` arrays deep. */
export function nested(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

export function cyclic(): unknown {
  const a: Record<string, unknown> = { x: 1 };
  a.self = a;
  return a;
}

// ---- generated input ------------------------------------------------------------------------------

export const goodText = fc.string({ minLength: 1, maxLength: 30 });
export const badText = fc.oneof(
  fc.constant(""),
  fc.constant("a\u0000b"),
  fc.constant("a\ud800b"),
  fc.constant("\udc00"),
  fc.constant("😀\ud83d"),
  fc.constant("x".repeat(5000)),
  fc.constant(
    Array.from({ length: 1024 }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20_000))).join(""),
  ),
  fc.string({ unit: "binary", minLength: 1, maxLength: 20 }),
  fc.constantFrom<unknown>(null, 42, true, {}, [], Symbol("s"), 1n),
);
export const text = fc.oneof({ weight: 3, arbitrary: goodText }, { weight: 2, arbitrary: badText });
export const optionalText = fc.oneof(fc.constant(undefined), text);

export const goodJson = fc.jsonValue({ maxDepth: 4 });
export const badJson = fc.oneof(
  fc.constantFrom<unknown>(
    1n,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    -0,
    Number.MAX_VALUE,
    5e-324,
    { a: undefined, b: [undefined] },
    new Map([[1, 2]]),
    new Set([1]),
    () => 1,
    "nul\u0000",
    { "k\u0000": 1 },
    "lone\ud800",
    { "k\udfff": 1 },
    new Date(0),
    new Date(Number.NaN),
    { big: [1, 2n] },
  ),
  fc.constant(null).map(() => cyclic()),
  fc.constantFrom(999, 1000, 1001, 1500, 20_000).map((depth) => nested(depth)),
  fc.string({ unit: "binary", maxLength: 10 }),
  fc.dictionary(fc.string({ unit: "binary", maxLength: 4 }), fc.integer()),
);
export const json = fc.oneof({ weight: 3, arbitrary: goodJson }, { weight: 2, arbitrary: badJson });

export const uuid = fc.uuid({ version: [4, 7] });
export const badUuid = fc.oneof(
  fc.constantFrom<unknown>(
    "",
    "not-a-uuid",
    "00000000-0000-0000-0000-00000000000g",
    "{00000000-0000-0000-0000-000000000000}",
    "00000000000000000000000000000000",
    42,
    null,
    {},
  ),
  uuid.map((id) => ` ${id}`),
);

export const number = fc.oneof(
  fc.integer({ min: -5, max: 1000 }),
  fc.constantFrom(
    0,
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    2 ** 31,
    2 ** 53,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_VALUE,
    1e-9,
  ),
  fc.constantFrom<unknown>("1", null, 1n),
);

export const date = fc.oneof(
  fc.date({ min: new Date("1970-01-01"), max: new Date("2200-01-01"), noInvalidDate: true }),
  fc.constantFrom<unknown>(
    new Date(Number.NaN),
    new Date(8.64e15),
    new Date(-8.64e15),
    new Date("0001-01-01T00:00:00Z"),
    new Date("9999-12-31T23:59:59.999Z"),
    "2024-01-01",
    0,
    null,
  ),
);

/** A job's delay in milliseconds: none, good ones, and every kind of bad one. */
export const delayMs = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: number },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 1e7, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(3.15576e13, 3.15576e13 + 1, -0.5, 1e300) },
);

export const whileRunning = fc.constantFrom<unknown>(undefined, "dedupe", "after", "later", "", 1, null);

// ---- the checks -----------------------------------------------------------------------------------

export async function rowCounts(store: Store): Promise<Record<string, number>> {
  const { rows: tables } = await store.query<{ name: string }>(
    "select tablename as name from pg_tables where schemaname = $1 order by 1",
    [store.schema],
  );
  // The queues' totals are folded from their additions into queue_totals in the background, which
  // changes both tables' row counts with nothing written: what counts is their sum.
  const folded = new Set(["queue_totals", "queue_total_additions"]);
  const sql = [
    ...tables
      .filter((t) => !folded.has(t.name))
      .map((t) => `select '${t.name}' as name, count(*)::float8 as n from "${store.schema}"."${t.name}"`),
    `select 'queue totals, summed', coalesce(sum(n), 0)::float8 from (
       select n from "${store.schema}".queue_totals union all select n from "${store.schema}".queue_total_additions) t`,
  ].join(" union all ");
  const { rows } = await store.query<{ name: string; n: number }>(sql);
  return Object.fromEntries(rows.map((r) => [r.name, r.n]));
}

/** What a JSON value reads back as. */
export const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

export const bytesOf = (value: unknown) =>
  typeof value === "string" ? Buffer.from(value) : Buffer.from(value as Uint8Array);

/** Every row of a table, to see that a refused write changed none (a claim changes rows, not counts). */
export async function tableRows(store: Store, table: string): Promise<unknown[]> {
  const { rows } = await store.query(`select * from "${store.schema}"."${table}" order by id`);
  return rows;
}

export interface RefuseOptions {
  /** Error codes a refusal may have (default EXPECTED_CODES). */
  codes?: ReadonlySet<string>;
  /** Tables whose every row, not only their count, a refusal must leave as it was. */
  unchanged?: string[];
}

/**
 * Runs `write`; when it succeeds, `readBack` checks what was stored; when it throws, the error must be
 * one of flowstore's input errors and no table may have gained or lost a row.
 */
export async function writeOrRefuse<T>(
  store: Store,
  write: () => Promise<T>,
  readBack: (result: T) => Promise<void>,
  { codes = EXPECTED_CODES, unchanged = [] }: RefuseOptions = {},
): Promise<void> {
  const before = await rowCounts(store);
  const rowsBefore = await Promise.all(unchanged.map((table) => tableRows(store, table)));
  let result: T;
  try {
    result = await write();
  } catch (error) {
    if (!(error instanceof StoreError) || !codes.has(error.code)) {
      throw new Error(`expected one of ${[...codes].join(", ")}, got ${String(error)}`, { cause: error });
    }
    expect(await rowCounts(store)).toEqual(before);
    for (const [i, table] of unchanged.entries())
      expect(await tableRows(store, table)).toEqual(rowsBefore[i]);
    return;
  }
  await readBack(result);
}

/** Asserts `predicate` for generated arguments, seeded and bounded like every property here. */
export const checkProperty = <T extends unknown[]>(
  args: { [K in keyof T]: fc.Arbitrary<T[K]> },
  predicate: (...values: T) => Promise<void>,
) =>
  fc.assert(
    fc.asyncProperty(
      ...(args as unknown as [fc.Arbitrary<unknown>]),
      predicate as unknown as (v: unknown) => Promise<void>,
    ),
    { seed: SEED, numRuns: RUNS },
  );
