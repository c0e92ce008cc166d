/** Starting an execution by definition name: the errors say what is missing and how to go on. */
import { describe, expect, it } from "vitest";
import { NotFoundError } from "../src/index.js";
import { forEachDriver } from "./harness.js";
import { countRows } from "./workflow-fixtures.js";

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
  });
});
