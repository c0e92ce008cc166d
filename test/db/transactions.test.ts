import { describe, expect, it } from "vitest";
import { ConflictError, type Store, StoreError, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

async function withTable(store: Store): Promise<string> {
  const table = `${store.schema}.items`;
  await store.query(`create table ${table} (id int primary key, note text)`);
  return table;
}

async function count(store: Store, table: string): Promise<number> {
  const { rows } = await store.query<{ n: number }>(`select count(*)::int as n from ${table}`);
  return rows[0]?.n ?? -1;
}

forEachDriver((driver) => {
  describe("transactions", () => {
    it("commits when the callback returns", async () => {
      const store = await driver.open();
      const table = await withTable(store);
      const result = await store.transaction(async (tx) => {
        await tx.query(`insert into ${table} values (1, 'a'), (2, 'b')`);
        return "done";
      });
      expect(result).toBe("done");
      expect(await count(store, table)).toBe(2);
    });

    it("rolls back everything when the callback throws", async () => {
      const store = await driver.open();
      const table = await withTable(store);
      await expect(
        store.transaction(async (tx) => {
          await tx.query(`insert into ${table} values (1, 'a')`);
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      expect(await count(store, table)).toBe(0);
    });

    it("rolls back a failed statement and leaves the connection usable", async () => {
      const store = await driver.open();
      const table = await withTable(store);
      await expect(
        store.transaction(async (tx) => {
          await tx.query(`insert into ${table} values (1, 'a')`);
          await tx.query(`insert into ${table} values (1, 'duplicate')`);
        }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await count(store, table)).toBe(0);
      // The next transaction works: PGlite's single connection is not left aborted.
      await store.transaction((tx) => tx.query(`insert into ${table} values (2, 'b')`));
      expect(await count(store, table)).toBe(1);
    });

    it("rolls back a nested transaction (savepoint) alone", async () => {
      const store = await driver.open();
      const table = await withTable(store);
      await store.transaction(async (tx) => {
        await tx.query(`insert into ${table} values (1, 'outer')`);
        await expect(
          tx.transaction(async (inner) => {
            await inner.query(`insert into ${table} values (2, 'inner')`);
            throw new Error("inner fails");
          }),
        ).rejects.toThrow("inner fails");
        await tx.transaction((inner) => inner.query(`insert into ${table} values (3, 'second inner')`));
      });
      const { rows } = await store.query<{ id: number }>(`select id from ${table} order by id`);
      expect(rows.map((r) => r.id)).toEqual([1, 3]);
    });

    it("a savepoint recovers from a failed statement inside it", async () => {
      const store = await driver.open();
      const table = await withTable(store);
      await store.transaction(async (tx) => {
        await tx.query(`insert into ${table} values (1, 'a')`);
        await expect(
          tx.transaction((inner) => inner.query(`insert into ${table} values (1, 'dup')`)),
        ).rejects.toBeInstanceOf(ConflictError);
        await tx.query(`insert into ${table} values (2, 'b')`);
      });
      expect(await count(store, table)).toBe(2);
    });

    it("retries a serialization failure and runs the callback again", async () => {
      const store = await driver.open();
      const table = await withTable(store);
      let attempts = 0;
      await store.transaction(async (tx) => {
        attempts++;
        await tx.query(`insert into ${table} values ($1, 'attempt')`, [attempts]);
        if (attempts < 3) {
          await tx.query("do $$ begin raise exception 'simulated' using errcode = '40001'; end $$");
        }
      });
      expect(attempts).toBe(3);
      const { rows } = await store.query<{ id: number }>(`select id from ${table}`);
      expect(rows).toEqual([{ id: 3 }]);
    });

    it("gives up after the configured retries with a ConflictError carrying the SQLSTATE", async () => {
      const store = await driver.open();
      let attempts = 0;
      const failure = await store
        .transaction(
          async (tx) => {
            attempts++;
            await tx.query("do $$ begin raise exception 'always' using errcode = '40P01'; end $$");
          },
          { retries: 1 },
        )
        .catch((error: unknown) => error);
      expect(attempts).toBe(2);
      expect(failure).toBeInstanceOf(ConflictError);
      expect((failure as ConflictError).sqlState).toBe("40P01");
      expect((failure as ConflictError).cause).toBeDefined();
    });

    it("applies the isolation level and read-only mode", async () => {
      const store = await driver.open();
      const level = await store.transaction(
        async (tx) =>
          (await tx.query<{ level: string }>("select current_setting('transaction_isolation') as level"))
            .rows[0],
        { isolation: "serializable" },
      );
      expect(level).toEqual({ level: "serializable" });
      const table = await withTable(store);
      await expect(
        store.transaction((tx) => tx.query(`insert into ${table} values (1, 'x')`), { readOnly: true }),
      ).rejects.toBeInstanceOf(StoreError);
      expect(await count(store, table)).toBe(0);
    });

    it("maps database errors to flowstore error classes", async () => {
      const store = await driver.open();
      const table = await withTable(store);
      await store.query(`insert into ${table} values (1, 'a')`);
      const conflict = await store.query(`insert into ${table} values (1, 'b')`).catch((e: unknown) => e);
      expect(conflict).toBeInstanceOf(ConflictError);
      expect((conflict as ConflictError).code).toBe("CONFLICT");
      expect((conflict as ConflictError).sqlState).toBe("23505");
      const invalid = await store.query("select 'not a number'::int").catch((e: unknown) => e);
      expect(invalid).toBeInstanceOf(ValidationError);
      expect((invalid as ValidationError).sqlState).toBe("22P02");
      const other = await store.query("select * from no_such_table").catch((e: unknown) => e);
      expect(other).toBeInstanceOf(StoreError);
      expect((other as StoreError).sqlState).toBe("42P01");
    });

    if (driver.concurrent) {
      it("retries a real serialization conflict between two sessions", async () => {
        const store = await driver.open();
        const table = await withTable(store);
        await store.query(`insert into ${table} values (1, '0')`);
        // Two serializable transactions read then write the same row; one must fail with 40001 and
        // succeed on its retry, so both increments land.
        let attempts = 0;
        let bothRead!: () => void;
        const barrier = new Promise<void>((resolve) => {
          let waiting = 2;
          bothRead = () => {
            if (--waiting === 0) resolve();
          };
        });
        const increment = () =>
          store.transaction(
            async (tx) => {
              attempts++;
              const { rows } = await tx.query<{ note: string }>(`select note from ${table} where id = 1`);
              if (attempts <= 2) {
                bothRead();
                await barrier;
              }
              await tx.query(`update ${table} set note = $1 where id = 1`, [
                String(Number(rows[0]?.note) + 1),
              ]);
            },
            { isolation: "serializable" },
          );
        await Promise.all([increment(), increment()]);
        expect(attempts).toBe(3);
        const { rows } = await store.query<{ note: string }>(`select note from ${table} where id = 1`);
        expect(rows[0]?.note).toBe("2");
      });
    }
  });
});
