/**
 * The kv lists and deletes engines lean on use an index, not a sequential scan, on 100,000 entries in
 * 2,000 prefixes: a range of keys (under a key prefix, before a key, descending), many keys at once,
 * the prefixes in use (a loose index scan, one probe per prefix), and an owner's entries, whether
 * deleted by owner or with a pruned execution. The plans are read for the statements the repository
 * actually sends. Real server only, as in workflow-explain.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { expectIndexProbes, openRecording } from "../support/explain.js";
import { forEachDriver } from "../support/harness.js";

const onKv = (sql: string) => /\.kv\b/.test(sql);

/** 2,000 prefixes of 50 keys each; the entries of prefix i belong to owner-(i % 500). */
async function fill(store: Store): Promise<void> {
  const s = `"${store.schema}"`;
  await store.query(
    `insert into ${s}.kv (prefix, key, value, owner)
     select 'prefix-' || lpad((i / 50)::text, 4, '0'), 'key-' || (i % 50), '\\x00', 'owner-' || ((i / 50) % 500)
     from generate_series(0, 99999) i`,
  );
  await store.query(`analyze ${s}.kv`);
}

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("kv indexes", () => {
    it("ranges, many keys, the prefixes in use and an owner's entries never scan 100,000 rows", async () => {
      const { store, planOf, plansOf } = await openRecording(driver, onKv);
      await fill(store);
      const { execution } = await store.executions.start({ name: "w", status: "running" });
      await store.kv.set("prefix-0001", "mine", "v", { owner: execution.id });
      await store.executions.complete(execution.id);
      expect((await store.kv.listPrefixes({ limit: 1000 })).items).toHaveLength(1000);

      const calls: [string, string, () => Promise<unknown>][] = [
        ["keys under a key prefix", "kv_pkey", () => store.kv.list("prefix-0042", { startsWith: "key-1" })],
        [
          "keys before a key, newest first",
          "kv_pkey",
          () => store.kv.list("prefix-0042", { order: "desc", before: "key-30", limit: 5 }),
        ],
        ["many keys", "kv_pkey", () => store.kv.getMany("prefix-0042", ["key-1", "key-7", "key-49"])],
        ["prefixes in use", "kv_pkey", () => store.kv.listPrefixes({ limit: 50 })],
        ["prefixes under a prefix", "kv_pkey", () => store.kv.listPrefixes({ startsWith: "prefix-01" })],
        ["an owner's entries", "kv_owner", () => store.kv.deleteByOwner("owner-7")],
        ["a pruned execution's entries", "kv_owner", () => store.prune({ finishedBefore: new Date() })],
      ];
      await expectIndexProbes(plansOf, calls);
      // A loose index scan: five prefixes cost a few probes of the primary key, not a pass over the
      // table's hundreds of pages (nor its 100,000 entries).
      const prefixes = await planOf(() => store.kv.listPrefixes({ limit: 5 }), { analyze: true });
      expect(
        prefixes.nodes.map((n) => n["Node Type"]),
        prefixes.shown,
      ).toContain("Recursive Union");
      expect(prefixes.blocks, prefixes.shown).toBeLessThan(60);
      const pages = await store.query<{ n: number }>(
        `select relpages as n from pg_class where oid = '"${store.schema}".kv'::regclass`,
      );
      expect(pages.rows[0]?.n).toBeGreaterThan(300);
      expect(await store.kv.get("prefix-0001", "mine")).toBeUndefined();
      expect((await store.kv.list("prefix-0007")).items).toHaveLength(0);
      expect((await store.kv.list("prefix-0008")).items).toHaveLength(50);
    });
  });
});
