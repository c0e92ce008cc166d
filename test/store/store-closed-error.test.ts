/**
 * A call on a store that was closed fails with StoreClosedError, a class the package exports, so a
 * caller can tell it from a lost connection (both are ConnectionErrors; waiting mends only the other).
 */
import { describe, expect, it } from "vitest";
import { ConnectionError, StoreClosedError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe("a closed store", () => {
    it("refuses every call with StoreClosedError and writes nothing", async () => {
      const store = await driver.open();
      await store.close();
      const refused = await store.kv.set("after", "close", "x").catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(StoreClosedError);
      expect(refused).toBeInstanceOf(ConnectionError);
      expect(refused).toMatchObject({ name: "StoreClosedError", code: "CONNECTION" });
      const reopened = await driver.open({ schema: store.schema });
      expect(await reopened.kv.get("after", "close")).toBeUndefined();
    });
  });
});
