/**
 * Definitions (versioned create, find, list, status) and execution queries (keyset listing,
 * filters, counts).
 */
import { describe, expect, it } from "vitest";
import {
  ConflictError,
  type Execution,
  type ExecutionFilter,
  type ExecutionStatus,
  NotFoundError,
  type Page,
  uuidv7,
  ValidationError,
} from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { countRows, definition } from "../support/workflow-fixtures.js";

forEachDriver((driver) => {
  describe("definitions", () => {
    it("creates, gets and finds versioned definitions", async () => {
      const store = await driver.open();
      const v1 = await store.definitions.create({ name: "order", version: 1, definition: { steps: [1] } });
      expect(v1).toMatchObject({ name: "order", version: 1, status: "draft", deployedAt: null });
      expect(v1.definition).toEqual({ steps: [1] });
      expect(v1.createdAt).toBeInstanceOf(Date);
      expect(await store.definitions.get(v1.id)).toEqual(v1);
      const v2 = await store.definitions.create({
        name: "order",
        definition: { steps: [2] },
        status: "active",
      });
      expect(v2.version).toBe(2);
      expect(v2.deployedAt).toBeInstanceOf(Date);
      await store.definitions.create({ name: "order", definition: { steps: [3] } });
      expect((await store.definitions.find("order"))?.id).toBe(v2.id);
      expect((await store.definitions.find("order", 1))?.id).toBe(v1.id);
      expect(await store.definitions.find("order", 9)).toBeNull();
      expect(await store.definitions.find("nothing")).toBeNull();
      await expect(store.definitions.get("0190a0e0-0000-7000-8000-000000000000")).rejects.toBeInstanceOf(
        NotFoundError,
      );
      await expect(store.definitions.get("not-a-uuid")).rejects.toBeInstanceOf(ValidationError);
    });

    it("refuses a duplicate (name, version) with a ConflictError", async () => {
      const store = await driver.open();
      await store.definitions.create({ name: "dup", version: 3, definition: {} });
      const error = await store.definitions
        .create({ name: "dup", version: 3, definition: { other: true } })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as Error).message).toContain("dup version 3");
      expect(await countRows(store, "definitions")).toBe(1);
    });

    it("assigns distinct next versions to concurrent creators of one name", async () => {
      const store = await driver.open();
      const created = await Promise.all(
        Array.from({ length: 6 }, (_, i) => store.definitions.create({ name: "race", definition: { i } })),
      );
      expect(created.map((d) => d.version).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    });

    it("lists by name, status and body containment", async () => {
      const store = await driver.open();
      await store.definitions.create({ name: "a", definition: { kind: "http" }, status: "active" });
      await store.definitions.create({ name: "a", definition: { kind: "cron" } });
      await store.definitions.create({ name: "b", definition: { kind: "http", retries: 3 } });
      const all = await store.definitions.list();
      expect(all.map((d) => [d.name, d.version])).toEqual([
        ["a", 2],
        ["a", 1],
        ["b", 1],
      ]);
      expect((await store.definitions.list({ name: "a" })).length).toBe(2);
      expect((await store.definitions.list({ status: "active" })).map((d) => d.name)).toEqual(["a"]);
      const http = await store.definitions.list({ contains: { kind: "http" } });
      expect(http.map((d) => d.name)).toEqual(["a", "b"]);
      expect((await store.definitions.list({ limit: 1 })).length).toBe(1);
    });

    it("setStatus stamps deployedAt when a definition becomes active", async () => {
      const store = await driver.open();
      const d = await store.definitions.create({ name: "s", definition: {} });
      const active = await store.definitions.setStatus(d.id, "active");
      expect(active.status).toBe("active");
      expect(active.deployedAt).toBeInstanceOf(Date);
      const again = await store.definitions.setStatus(d.id, "active");
      expect(again.deployedAt).toEqual(active.deployedAt);
      const deprecated = await store.definitions.setStatus(d.id, "deprecated");
      expect(deprecated.deployedAt).toEqual(active.deployedAt);
      expect((await store.definitions.setStatus(d.id, "archived")).status).toBe("archived");
      await expect(store.definitions.setStatus(d.id, "gone" as "active")).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(
        store.definitions.setStatus("0190a0e0-0000-7000-8000-000000000000", "active"),
      ).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe("executions", () => {
    it("lists with filters and an opaque keyset cursor; iterate survives concurrent inserts", async () => {
      const store = await driver.open();
      const d1 = await store.definitions.create({ name: "list-a", definition: {} });
      const d2 = await store.definitions.create({ name: "list-b", definition: {} });
      const parent = (await store.executions.start({ definitionId: d1.id })).execution;
      // One statement: every row shares created_at, so only the id orders them.
      const records = Array.from({ length: 30 }, (_, i) => ({
        id: uuidv7(),
        definitionId: i % 3 === 0 ? d2.id : d1.id,
        status: (i % 2 === 0 ? "running" : "waiting") as ExecutionStatus,
        parentExecutionId: i < 5 ? parent.id : null,
        metadata: { tenant: i % 5 === 0 ? "blue" : "red", i },
      }));
      await store.executions.upsertMany(records);
      const all = [parent.id, ...records.map((r) => r.id).sort()];
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page: Page<Execution> = await store.executions.list({ limit: 7, cursor });
        expect(page.items.length).toBeLessThanOrEqual(7);
        seen.push(...page.items.map((e) => e.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual(all);
      const desc = await store.executions.list({ order: "desc", limit: 100 });
      expect(desc.items.map((e) => e.id)).toEqual([...all].reverse());
      expect(desc.nextCursor).toBeNull();

      const ids = async (filter: ExecutionFilter) =>
        (await store.executions.list({ ...filter, limit: 100 })).items.map((e) => e.id);
      const expectIds = (pick: (r: (typeof records)[number]) => boolean) =>
        records
          .filter(pick)
          .map((r) => r.id)
          .sort();
      expect(await ids({ status: "waiting" })).toEqual(expectIds((r) => r.status === "waiting"));
      expect(await ids({ status: ["running", "waiting"], definitionName: "list-b" })).toEqual(
        expectIds((r) => r.definitionId === d2.id),
      );
      expect(await ids({ definitionId: d2.id })).toEqual(expectIds((r) => r.definitionId === d2.id));
      expect(await ids({ parentExecutionId: parent.id })).toEqual(
        expectIds((r) => r.parentExecutionId === parent.id),
      );
      expect(await ids({ metadata: { tenant: "blue" } })).toEqual(
        expectIds((r) => r.metadata.tenant === "blue"),
      );
      expect(
        await ids({
          createdBefore: new Date(Date.now() + 60_000),
          createdAfter: new Date(0),
          updatedAfter: new Date(0),
          updatedBefore: new Date(Date.now() + 60_000),
        }),
      ).toEqual(all);
      expect(await ids({ createdAfter: new Date(Date.now() + 60_000) })).toEqual([]);
      // Chosen runs by id (an unknown id is no row), with the other filters.
      const chosen = [records[4], records[1], records[3]].map((r) => r?.id as string);
      expect(await ids({ ids: [...chosen, uuidv7()] })).toEqual([...chosen].sort());
      expect(await ids({ ids: chosen, status: "waiting" })).toEqual(
        [records[1], records[3]].map((r) => r?.id).sort(),
      );
      expect(await ids({ ids: [] })).toEqual([]);
      await expect(store.executions.list({ ids: ["nope"] })).rejects.toBeInstanceOf(ValidationError);
      await expect(
        store.executions.list({ ids: Array.from({ length: 1001 }, () => uuidv7()) }),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(store.executions.list({ cursor: "garbage" })).rejects.toBeInstanceOf(ValidationError);

      const iterated: string[] = [];
      let inserted = 0;
      for await (const e of store.executions.iterate({ pageSize: 4 })) {
        iterated.push(e.id);
        if (inserted < 3) {
          inserted++;
          await store.executions.start({ definitionId: d1.id });
        }
      }
      expect(iterated.slice(0, all.length)).toEqual(all);
      expect(new Set(iterated).size).toBe(iterated.length);
      expect(iterated.length).toBe(all.length + 3);
    });

    it("countByStatus counts every status, with the list filters", async () => {
      const store = await driver.open();
      const d = await definition(store);
      const ids = [];
      for (let i = 0; i < 6; i++)
        ids.push((await store.executions.start({ definitionId: d.id, metadata: { i } })).execution.id);
      await store.executions.update(ids[0] as string, { status: "running" });
      await store.executions.update(ids[1] as string, { status: "running" });
      await store.executions.complete(ids[2] as string);
      await store.executions.fail(ids[3] as string, "x");
      expect(await store.executions.countByStatus()).toEqual({
        pending: 2,
        running: 2,
        waiting: 0,
        completed: 1,
        failed: 1,
        cancelled: 0,
        timed_out: 0,
      });
      const filtered = await store.executions.countByStatus({ metadata: { i: 0 } });
      expect(filtered.running).toBe(1);
      expect(Object.values(filtered).reduce((a, b) => a + b)).toBe(1);
    });
  });
});
