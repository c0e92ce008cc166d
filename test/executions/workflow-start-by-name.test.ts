/**
 * Starting an execution by workflow name: with a definition registered under the name, its active
 * version (the errors say what is missing and how to go on); with none, a run of that name alone.
 */
import { describe, expect, it } from "vitest";
import { DashboardData } from "../../src/dashboard/data.js";
import type { Sampler } from "../../src/dashboard/sampler.js";
import { NotFoundError, uuidv7, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { countRows } from "../support/workflow-fixtures.js";

forEachDriver((driver) => {
  describe("executions.start by name", () => {
    it("without an active version, says how to activate one or start one by number", async () => {
      const store = await driver.open();
      await store.definitions.create({ name: "order", definition: {}, status: "draft" });
      const error = await store.executions.start({ name: "order" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      const message = (error as Error).message;
      expect(message).toContain("definition order has no active version");
      expect(message).toContain('definitions.setStatus(id, "active")');
      expect(message).toContain("executions.start({ name, version })");
      expect(message).not.toContain("no an");
      expect(await countRows(store, "executions")).toBe(0);
    });

    it("without the asked version, names it and says where to find the versions", async () => {
      const store = await driver.open();
      await store.definitions.create({ name: "order", definition: {}, status: "active" });
      const error = await store.executions.start({ name: "order", version: 7 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      const message = (error as Error).message;
      expect(message).toContain("definition order has no version 7");
      expect(message).toContain("definitions.list({ name })");
      expect(await countRows(store, "executions")).toBe(0);
    });

    it("with nothing registered under the name, records the name and no definition", async () => {
      const store = await driver.open();
      const { execution, created } = await store.executions.start({
        name: "checkout-v2",
        input: { cart: 1 },
        idempotencyKey: "run-1",
      });
      expect(created).toBe(true);
      expect(execution).toMatchObject({ name: "checkout-v2", definitionId: null, input: { cart: 1 } });
      expect(await store.executions.get(execution.id)).toEqual(execution);
      const again = await store.executions.start({ name: "checkout-v2", idempotencyKey: "run-1" });
      expect(again).toEqual({ execution, created: false });
      const other = (await store.executions.start({ name: "other" })).execution;
      const listed = await store.executions.list({ definitionName: "checkout-v2" });
      expect(listed.items.map((e) => e.id)).toEqual([execution.id]);
      expect((await store.executions.list({ definitionName: "other" })).items.map((e) => e.id)).toEqual([
        other.id,
      ]);
      expect(await store.executions.complete(execution.id, { ok: true })).toMatchObject({
        status: "completed",
        name: "checkout-v2",
        definitionId: null,
      });
      expect(await countRows(store, "definitions")).toBe(0);
    });

    it("the dashboard shows such a run under its name, with no version", async () => {
      const store = await driver.open();
      const { execution } = await store.executions.start({ name: "adhoc" });
      const data = new DashboardData(store, {} as Sampler);
      const listed = await data.executions(new URLSearchParams({ definition: "adhoc" }));
      const ref = { id: null, name: "adhoc", version: null };
      expect(listed.items).toMatchObject([{ id: execution.id, definition: ref }]);
      expect((await data.execution(execution.id)).execution.definition).toEqual(ref);
    });

    it("with an active version, starts that one and records its name", async () => {
      const store = await driver.open();
      await store.definitions.create({ name: "order", definition: {}, status: "active" });
      const v2 = await store.definitions.create({ name: "order", definition: {}, status: "active" });
      await store.definitions.create({ name: "order", definition: {}, status: "draft" });
      const { execution } = await store.executions.start({ name: "order" });
      expect(execution).toMatchObject({ definitionId: v2.id, name: "order" });
      const byId = await store.executions.start({ definitionId: v2.id });
      expect(byId.execution).toMatchObject({ definitionId: v2.id, name: "order" });
      const listed = await store.executions.list({ definitionName: "order" });
      expect(listed.items.map((e) => e.id)).toEqual([execution.id, byId.execution.id]);
    });

    it("a version of a name nothing is registered under is not found, and nothing is written", async () => {
      const store = await driver.open();
      const error = await store.executions.start({ name: "ghost", version: 1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toContain("definition ghost has no version 1");
      expect(await countRows(store, "executions")).toBe(0);
    });

    it("refuses a bad name and a missing definition id before writing anything", async () => {
      const store = await driver.open();
      for (const name of ["", "a\u0000b", "x".repeat(256), 42 as unknown as string]) {
        await expect(store.executions.start({ name })).rejects.toBeInstanceOf(ValidationError);
      }
      await expect(store.executions.start({})).rejects.toBeInstanceOf(ValidationError);
      await expect(store.executions.start({ definitionId: uuidv7() })).rejects.toBeInstanceOf(NotFoundError);
      expect(await countRows(store, "executions")).toBe(0);
    });

    it("upsert writes a run by name alone, and refuses a name that is not its definition's", async () => {
      const store = await driver.open();
      const def = await store.definitions.create({ name: "order", definition: {}, status: "active" });
      const byName = await store.executions.upsert({ id: uuidv7(), name: "adhoc", status: "running" });
      expect(byName).toMatchObject({ name: "adhoc", definitionId: null, status: "running" });
      const both = await store.executions.upsert({
        id: uuidv7(),
        definitionId: def.id,
        name: "order",
        status: "pending",
      });
      expect(both).toMatchObject({ name: "order", definitionId: def.id });
      const byDefinition = await store.executions.upsert({ ...both, name: undefined, status: "running" });
      expect(byDefinition).toMatchObject({ name: "order", version: 2 });

      const before = (await store.query(`select * from ${store.schema}.executions order by id`)).rows;
      const wrong = { id: uuidv7(), definitionId: def.id, name: "adhoc", status: "pending" as const };
      const error = await store.executions.upsert(wrong).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toContain('its definition is named "order"');
      await expect(
        store.executions.upsertMany([{ id: uuidv7(), name: "fine", status: "pending" }, wrong]),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(store.executions.upsert({ ...both, name: "adhoc" })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(store.executions.upsert({ id: uuidv7(), status: "pending" })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(
        store.executions.upsert({ id: uuidv7(), definitionId: uuidv7(), status: "pending" }),
      ).rejects.toBeInstanceOf(NotFoundError);
      expect((await store.query(`select * from ${store.schema}.executions order by id`)).rows).toEqual(
        before,
      );
    });
  });
});
