/**
 * The distribution check reads the migrations' DDL, not a database; its reading is only worth what it
 * agrees with PostgreSQL. Here the shape it reads (columns with type and nullability, unique keys with
 * their columns, foreign keys) is compared with the catalog of a freshly migrated schema: its tables,
 * partitioned or not, whose partitions are distributed with them and so left out.
 */
import { describe, expect, it } from "vitest";
import { readMigrations, readShape } from "../../scripts/check-distribution.mjs";
import { forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe("the distribution check's reading of the migrations", () => {
    it("is the shape PostgreSQL builds from them", async () => {
      const store = await driver.open();
      const values = [store.schema];
      const { tables } = readShape(readMigrations());

      const columns = await store.query<{ at: string }>(
        `select c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                || case when a.attnotnull then ' not null' else '' end as at
           from pg_attribute a join pg_class c on c.oid = a.attrelid
          where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
            and a.attnum > 0 and not a.attisdropped`,
        values,
      );
      const readColumns = [...tables].flatMap(([name, table]) =>
        [...table.columns].map(([column, c]) => `${name}.${column} ${c.type}${c.notNull ? " not null" : ""}`),
      );
      expect(readColumns.sort()).toEqual(columns.rows.map((row) => row.at).sort());

      // Unique keys by name, with the plain columns in them (an expression has none).
      const keys = await store.query<{ key: string }>(
        `select c.relname || ' ' || i.relname || ' ' || case when x.indisprimary then 'primary' else 'unique' end
                || ' (' || coalesce((select string_agg(a.attname, ', ' order by k.n)
                                       from unnest(x.indkey) with ordinality as k(attnum, n)
                                       join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum), '')
                || ')' as key
           from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class c on c.oid = x.indrelid
          where c.relnamespace = $1::regnamespace and x.indisunique and not c.relispartition`,
        values,
      );
      const readKeys = [...tables].flatMap(([name, table]) =>
        table.keys.map(
          (k) => `${name} ${k.name} ${k.kind === "primary" ? "primary" : "unique"} (${k.columns.join(", ")})`,
        ),
      );
      expect(readKeys.sort()).toEqual(keys.rows.map((row) => row.key).sort());

      const foreignKeys = await store.query<{ fk: string }>(
        `select conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) as fk
           from pg_constraint where contype = 'f' and connamespace = $1::regnamespace and conparentid = 0`,
        values,
      );
      const readForeignKeys = [...tables].flatMap(([name, table]) =>
        table.foreignKeys.map(
          (fk) =>
            `${store.schema}.${name} ${fk.name} FOREIGN KEY (${fk.columns.join(", ")}) ` +
            `REFERENCES ${store.schema}.${fk.refTable}(${fk.refColumns.join(", ")})`,
        ),
      );
      const catalog = foreignKeys.rows.map((row) => row.fk.replace(/ ON DELETE .*$/, ""));
      expect(readForeignKeys.sort()).toEqual(catalog.sort());
    });
  });
});
