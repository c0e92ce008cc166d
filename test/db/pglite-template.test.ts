/**
 * The embedded store's template (src/db/template/): a new database made from it holds the schema a
 * database made by initdb and migrated from scratch holds; a missing template is made into the cache,
 * one of another migration set is left alone, a damaged one is removed and PGlite makes the database
 * as before; processes writing it at once leave a whole file. PGlite only: the template is how PGlite
 * makes a new database, and a server's databases are the server's to make.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgliteDriver } from "../../src/db/pglite.js";
import {
  createPglite,
  makeTemplate,
  TEMPLATE_SCHEMA,
  templateName,
  writeTemplate,
} from "../../src/db/template/template.js";
import { openStore } from "../../src/index.js";
import { latestVersion, loadMigrations } from "../../src/migrations/runner.js";
import {
  addDays,
  ensureRanges,
  fitTemplateRanges,
  startOfDay,
  templateRanges,
} from "../../src/partitions/index.js";
import { DEFAULT_SCHEMA } from "../../src/store.js";
import { createTestStore } from "../../src/testing/index.js";
import { everywhere, idAt, placeOf, seedAt } from "../partitions/fixtures.js";
import { NODE_FLAGS } from "../support/node-flags.js";
import { until } from "../support/waiting.js";

const work = mkdtempSync(path.join(tmpdir(), "flowstore-template-"));
/** Holds the current template, made once for the file. */
const shipped = path.join(work, "shipped");
let madeAt: Date;

beforeAll(async () => {
  madeAt = new Date();
  writeTemplate(shipped, templateName(), await makeTemplate(templateRanges()));
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * What a schema holds, as text: its relations, columns and defaults, indexes, constraints, functions,
 * triggers and migration records. Partitions of the history tables are left out: their ranges are
 * made by day when the store opens, named by the day.
 */
async function catalog(db: PGlite, schema: string): Promise<string[]> {
  const { rows } = await db.query<{ line: string }>(
    `with own as (
       select c.oid, c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 and not c.relispartition)
     select 'relation ' || relname || ' ' || relkind::text || ' ' || coalesce(pg_get_partkeydef(oid), '') as line from own
     union all
     select 'column ' || o.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
       || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
     from own o join pg_attribute a on a.attrelid = o.oid
     left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
     where a.attnum > 0 and not a.attisdropped
     union all
     select 'index ' || pg_get_indexdef(i.indexrelid) from pg_index i join own o on o.oid = i.indexrelid
     union all
     select 'constraint ' || o.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
     from pg_constraint k join own o on o.oid = k.conrelid
     union all
     select 'function ' || pg_get_functiondef(p.oid)
     from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1
     union all
     select 'trigger ' || pg_get_triggerdef(t.oid) from pg_trigger t join own o on o.oid = t.tgrelid
     where not t.tgisinternal`,
    [schema],
  );
  const migrations = await db.query<{ line: string }>(
    `select 'migration ' || id || ' ' || name || ' ' || checksum as line from "${schema}".migrations`,
  );
  return [...rows, ...migrations.rows].map((row) => row.line).sort();
}

async function appliedBefore(db: PGlite, schema: string): Promise<{ count: number; newest: Date }> {
  const { rows } = await db.query<{ count: number; newest: Date }>(
    `select count(*)::int as count, max(applied_at) as newest from "${schema}".migrations`,
  );
  return rows[0] as { count: number; newest: Date };
}

async function holdsSchema(db: PGlite, schema: string): Promise<boolean> {
  const { rows } = await db.query("select 1 from pg_namespace where nspname = $1", [schema]);
  return rows.length > 0;
}

describe("a database made from the template", () => {
  it("is migrated in the store's default schema", () => {
    expect(TEMPLATE_SCHEMA).toBe(DEFAULT_SCHEMA);
  });

  it("holds the schema of one made by initdb and migrated from scratch", async () => {
    const before = new Date();
    const fromTemplate = await createPglite({ schema: DEFAULT_SCHEMA, places: { shipped } });
    const scratch = await PGlite.create();
    const stores = [await openStore({ connection: fromTemplate }), await openStore({ connection: scratch })];
    try {
      // Made from the template: its migrations were recorded when the template was made, not now.
      const applied = await appliedBefore(fromTemplate, DEFAULT_SCHEMA);
      expect(applied.count).toBe(latestVersion());
      expect(applied.newest.getTime()).toBeLessThan(before.getTime());
      expect(applied.newest.getTime()).toBeGreaterThanOrEqual(madeAt.getTime() - 1000);
      const expected = await catalog(scratch, DEFAULT_SCHEMA);
      expect(expected.filter((line) => line.startsWith("migration "))).toHaveLength(latestVersion());
      expect(await catalog(fromTemplate, DEFAULT_SCHEMA)).toEqual(expected);
    } finally {
      for (const store of stores) await store.close();
      await fromTemplate.close();
      await scratch.close();
    }
  });

  it("for another schema holds none of the template's, and migrates its own", async () => {
    const db = await createPglite({ schema: "app", places: { shipped } });
    try {
      expect(await holdsSchema(db, TEMPLATE_SCHEMA)).toBe(false);
      const store = await openStore({ connection: db, schema: "app" });
      await store.kv.set("p", "k", Buffer.from("v"));
      expect(Buffer.from((await store.kv.get("p", "k"))?.value ?? []).toString()).toBe("v");
      expect((await appliedBefore(db, "app")).count).toBe(latestVersion());
      await store.close();
    } finally {
      await db.close();
    }
  });

  it("in a data directory is unpacked there whole, and opened as it is the next time", async () => {
    const dataDir = path.join(work, "on-disk", "pgdata");
    const before = new Date();
    const first = await createPglite({ dataDir, schema: DEFAULT_SCHEMA, places: { shipped } });
    await first.exec(
      `create table ${DEFAULT_SCHEMA}.marks (n int); insert into ${DEFAULT_SCHEMA}.marks values (7)`,
    );
    expect((await appliedBefore(first, DEFAULT_SCHEMA)).newest.getTime()).toBeLessThan(before.getTime());
    await first.close();
    expect(existsSync(`${dataDir}.new`)).toBe(false);
    const again = await createPglite({ dataDir, schema: DEFAULT_SCHEMA, places: { shipped } });
    try {
      expect((await again.query<{ n: number }>(`select n from ${DEFAULT_SCHEMA}.marks`)).rows).toEqual([
        { n: 7 },
      ]);
    } finally {
      await again.close();
    }
  });
});

describe("a new database's history ranges", () => {
  const DAY = 86_400_000;

  it("are those a store opened today has, and as long as the store's ranges are set to be", async () => {
    for (const partitions of [undefined, { days: 1 }]) {
      const fromTemplate = await createPglite({
        schema: DEFAULT_SCHEMA,
        ranges: templateRanges(partitions?.days),
        places: { shipped },
      });
      const scratch = await PGlite.create();
      const stores = [
        await openStore({ connection: fromTemplate, partitions }),
        await openStore({ connection: scratch, partitions }),
      ];
      try {
        const [made, migrated] = await Promise.all(stores.map((store) => store.listPartitions()));
        expect(made).toEqual(migrated);
        expect(made?.at(-1)?.endsAt).toEqual(addDays(startOfDay(new Date()), 1 + (partitions?.days ?? 7)));
      } finally {
        for (const store of stores) await store.close();
        await fromTemplate.close();
        await scratch.close();
      }
    }
  }, 60_000);

  it("from a template weeks old, stretch its newest range over the days since, rather than make more", async () => {
    const db = await createPglite({ schema: DEFAULT_SCHEMA, places: { shipped } });
    const store = await openStore({ connection: db });
    try {
      const context = { db: new PgliteDriver(db, { ownsDatabase: false }), q: DEFAULT_SCHEMA };
      const [legacy, first] = await store.listPartitions();
      // Thirty days on, as a package made a month ago starts its first store.
      const later = new Date(Date.now() + 30 * DAY);
      await fitTemplateRanges(context.db, context.q, 7, later);
      const ranges = await store.listPartitions();
      expect(ranges).toEqual([
        legacy,
        { name: first?.name, startsAt: first?.startsAt, endsAt: addDays(startOfDay(later), 8) },
      ]);
      expect(await ensureRanges(context, {}, later)).toEqual([]);
      // A run of that day lands in the stretched range, whole.
      const id = await seedAt(store, "running", idAt(later, 1));
      expect(await placeOf(store, id)).toEqual(everywhere(first?.name as string));
    } finally {
      await store.close();
      await db.close();
    }
  }, 60_000);
});

describe("what a new database writes", () => {
  it("is the one database PGlite serves, its log segment a hole but for the checkpoint, with no maps", async () => {
    const dataDir = path.join(work, "lean", "pgdata");
    const db = await createPglite({ dataDir, schema: DEFAULT_SCHEMA, places: { shipped } });
    try {
      const { rows } = await db.query<{ datname: string }>("select datname from pg_database");
      expect(rows.map((row) => row.datname)).toEqual(["postgres"]);
    } finally {
      await db.close();
    }
    const relations = [path.join(dataDir, "global"), path.join(dataDir, "base", "5")];
    const maps = relations.flatMap((dir) => readdirSync(dir).filter((name) => /_(fsm|vm)$/.test(name)));
    expect(maps).toEqual([]);
    const segments = readdirSync(path.join(dataDir, "pg_wal")).filter((name) => /^[0-9A-F]{24}$/.test(name));
    expect(segments.length).toBeGreaterThan(0);
    const written = segments.map((name) => statSync(path.join(dataDir, "pg_wal", name)));
    // 16 MB each, of which the blocks on disk are what PGlite wrote since, far less.
    for (const stat of written) expect(stat.blocks * 512).toBeLessThan(stat.size / 2);
  }, 60_000);

  it("makes a relation's maps again when it needs them, its catalogs' included", async () => {
    const dataDir = path.join(work, "maps", "pgdata");
    const maps = () => readdirSync(path.join(dataDir, "base", "5")).filter((name) => /_(fsm|vm)$/.test(name));
    const db = await createPglite({ dataDir, schema: DEFAULT_SCHEMA, places: { shipped } });
    try {
      await db.exec(`create table filled as select n, repeat('x', 200) as pad from generate_series(1, 20000) n;
        delete from filled where n % 2 = 0;`);
      for (const table of ["filled", "pg_class", "flowstore.executions"]) await db.query(`vacuum ${table}`);
      expect(maps().length).toBeGreaterThanOrEqual(4);
      await db.exec("insert into filled select n, 'y' from generate_series(1, 100) n");
    } finally {
      await db.close();
    }
    const again = await PGlite.create({ dataDir });
    try {
      const { rows } = await again.query<{ count: number }>("select count(*)::int as count from filled");
      expect(rows[0]?.count).toBe(10_100);
      const runs = await again.query<{ count: number }>(
        "select count(*)::int as count from flowstore.executions",
      );
      expect(runs.rows[0]?.count).toBe(0);
    } finally {
      await again.close();
    }
  }, 60_000);
});

describe("the template's place", () => {
  it("a missing template is made into the cache; one of another migration set is not used", async () => {
    const cache = path.join(work, "cache-made");
    const older = loadMigrations().slice(0, -1);
    writeTemplate(cache, templateName(older), await makeTemplate(templateRanges(), older));
    const db = await createPglite({ schema: DEFAULT_SCHEMA, ranges: templateRanges(), places: { cache } });
    try {
      expect(readdirSync(cache).sort()).toEqual([templateName(), templateName(older)].sort());
      expect((await appliedBefore(db, DEFAULT_SCHEMA)).count).toBe(latestVersion());
    } finally {
      await db.close();
    }
    // An older template, were one loaded, is carried forward by the migration runner.
    const loaded = await PGlite.create({
      loadDataDir: new Blob([readFileSync(path.join(cache, templateName(older)))], {
        type: "application/x-gzip",
      }),
    });
    try {
      const store = await openStore({ connection: loaded });
      expect((await store.migrate()).applied).toEqual([]);
      expect((await appliedBefore(loaded, DEFAULT_SCHEMA)).count).toBe(latestVersion());
      await store.close();
    } finally {
      await loaded.close();
    }
  }, 120_000);

  it("none is made without the range work that a template holds: PGlite makes the database", async () => {
    const cache = path.join(work, "cache-no-ranges");
    const db = await createPglite({ schema: null, places: { cache } });
    try {
      expect(existsSync(path.join(cache, templateName()))).toBe(false);
      expect(await holdsSchema(db, TEMPLATE_SCHEMA)).toBe(false);
    } finally {
      await db.close();
    }
  }, 120_000);

  it("a damaged template is removed, and PGlite makes the database itself", async () => {
    const cache = path.join(work, "cache-damaged");
    const whole = readFileSync(path.join(shipped, templateName()));
    writeTemplate(cache, templateName(), whole.subarray(0, whole.length / 2));
    // Beside the lock file in the store's directory, which openEmbedded makes first.
    const dataDir = path.join(work, "damaged", "pgdata");
    mkdirSync(path.dirname(dataDir));
    const db = await createPglite({ dataDir, schema: DEFAULT_SCHEMA, places: { cache } });
    try {
      expect(existsSync(path.join(cache, templateName()))).toBe(false);
      expect(existsSync(`${dataDir}.new`)).toBe(false);
      // initdb's database: no schema of the store's yet.
      expect(await holdsSchema(db, TEMPLATE_SCHEMA)).toBe(false);
    } finally {
      await db.close();
    }
  }, 120_000);

  it("processes writing it at once leave a whole file, never a part or a mix", async () => {
    const dir = path.join(work, "racing");
    const name = templateName();
    const writers = [1, 2].map((byte) =>
      promisify(execFile)(process.execPath, [
        ...NODE_FLAGS,
        "--import",
        "tsx",
        "test/fixtures/write-template.ts",
        dir,
        name,
        String(byte),
        "30",
      ]),
    );
    let settled = 0;
    const done = Promise.all(writers).finally(() => {
      settled = 1;
    });
    let reads = 0;
    await until(() => {
      const file = path.join(dir, name);
      if (existsSync(file)) {
        const bytes = readFileSync(file);
        expect(bytes.length).toBe(4 << 20);
        expect(bytes.every((byte) => byte === bytes[0])).toBe(true);
        reads++;
      }
      return settled === 1;
    }, 60_000);
    await done;
    expect(reads).toBeGreaterThan(0);
    expect(readdirSync(dir)).toEqual([name]);
  }, 90_000);
});

describe("openStore and createTestStore", () => {
  it("start a new store from the cached template", async () => {
    const cacheHome = path.join(work, "xdg");
    writeTemplate(
      path.join(cacheHome, "flowstore"),
      templateName(),
      readFileSync(path.join(shipped, templateName())),
    );
    const saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = cacheHome;
    try {
      const before = new Date();
      const store = await openStore({ dataDir: path.join(work, "store") });
      const test = await createTestStore();
      try {
        for (const opened of [store, test]) {
          const { rows } = await opened.query<{ newest: Date }>(
            `select max(applied_at) as newest from ${opened.schema}.migrations`,
          );
          expect(rows[0]?.newest.getTime()).toBeLessThan(before.getTime());
        }
      } finally {
        await store.close();
        await test.close();
      }
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
  });
});
