/**
 * How the node-postgres driver sends a statement (src/db/pg-send.ts, sendStatement): on the store's own pool, a
 * Query made from its text, its name and its result's parsers set after; on a pool the user passed, the
 * query config pg documents. Either way a statement reads its columns by the store's own parsers,
 * fails with the store's error and gives its connection back, prepared or not, in a transaction or not.
 * Real server only: PGlite runs no pg Pool.
 */

import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, type Store, StoreError, ValidationError } from "../../src/index.js";
import { fileDatabaseUrl, TESTED_DRIVERS, uniqueSchema } from "../support/harness.js";

const INT8 = 20;
const onServer = TESTED_DRIVERS.some((d) => d.name === "postgres");
const opened: Store[] = [];
const pools: pg.Pool[] = [];

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  for (const pool of pools.splice(0)) await pool.end();
});

/** A store on its own pool of one connection, or on a pool of one the user made. */
async function open(pool: "own" | "user"): Promise<Store> {
  const url = await fileDatabaseUrl();
  const schema = uniqueSchema("pgs");
  let store: Store;
  if (pool === "own") {
    store = await openStore({ connection: url, schema, pool: { max: 1 } });
  } else {
    const given = new pg.Pool({ connectionString: url, max: 1 });
    pools.push(given);
    store = await openStore({ connection: given, schema });
  }
  opened.push(store);
  return store;
}

describe.skipIf(!onServer)("statements through node-postgres", () => {
  for (const pool of ["own", "user"] as const) {
    describe(`on ${pool === "own" ? "the store's own pool" : "a pool the user passed"}`, () => {
      it("reads an int8 as a number whatever pg's global parser says, and the other columns by pg's", async () => {
        const store = await open(pool);
        const text = `select $1::int8 as n, '{"a": [1, 2]}'::jsonb as j, 'x'::text as t,
                              timestamptz '2026-01-02T03:04:05Z' as at`;
        const expected = {
          n: 9007199254740991,
          j: { a: [1, 2] },
          t: "x",
          at: new Date("2026-01-02T03:04:05Z"),
        };
        const global = pg.types.getTypeParser(INT8);
        pg.types.setTypeParser(INT8, (value: string) => `global ${value}`);
        try {
          for (const prepare of [false, true]) {
            const { rows } = await store.query(text, ["9007199254740991"], { prepare });
            expect(rows, `prepared: ${prepare}`).toEqual([expected]);
            await store.transaction(async (tx) => {
              const inside = await tx.query(text, ["9007199254740991"], { prepare });
              expect(inside.rows, `prepared in a transaction: ${prepare}`).toEqual([expected]);
            });
          }
        } finally {
          pg.types.setTypeParser(INT8, global);
        }
        // A prepared statement sent again runs by its name, and reads its columns as the first time.
        const again = await store.query<{ n: number }>("select $1::int8 as n", ["42"], { prepare: true });
        const twice = await store.query<{ n: number }>("select $1::int8 as n", ["43"], { prepare: true });
        expect([again.rows, twice.rows]).toEqual([[{ n: 42 }], [{ n: 43 }]]);
      });

      it("fails a statement with the store's error and its SQLSTATE, and gives its only connection back", async () => {
        const store = await open(pool);
        for (const prepare of [false, true, false, true]) {
          const error = await store.query("select 1 / $1::int as n", [0], { prepare }).catch((e) => e);
          expect(error).toBeInstanceOf(ValidationError);
          expect((error as StoreError).sqlState).toBe("22012");
        }
        const t = `"${store.schema}".t`;
        await store.query(`create table ${t} (n int)`);
        const failed = await store
          .transaction(async (tx) => {
            await tx.query(`insert into ${t} values (1)`);
            await tx.query("select 1 / $1::int", [0], { prepare: true });
          })
          .catch((e) => e);
        expect(failed).toBeInstanceOf(StoreError);
        // The pool's one connection came back each time: the next statements run, and the failed
        // transaction left nothing.
        const { rows } = await store.query<{ n: number }>(`select count(*)::int as n from ${t}`);
        expect(rows).toEqual([{ n: 0 }]);
      });

      it("answers a script of several statements with the last one's rows", async () => {
        const store = await open(pool);
        const { rows } = await store.query<{ n: number }>("select 1 as n; select 2 as n");
        expect(rows).toEqual([{ n: 2 }]);
      });
    });
  }
});
