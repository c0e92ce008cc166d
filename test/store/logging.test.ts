import { describe, expect, it } from "vitest";
import type { Logger } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

function captureLogger(): Logger & { entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = [];
  const push = (object: Record<string, unknown>, msg?: string) => entries.push({ ...object, msg });
  return { entries, debug: push, info: push, warn: push, error: push };
}

forEachDriver((driver) => {
  describe("statement logging", () => {
    it("is off by default", async () => {
      const logger = captureLogger();
      const store = await driver.open({ logger, env: {} });
      await store.query("select $1::text as secret", ["hunter2"]);
      expect(logger.entries.filter((e) => "sql" in e)).toEqual([]);
    });

    it("logs SQL text and duration, never values unless asked", async () => {
      const logger = captureLogger();
      const store = await driver.open({ logger, logStatements: true });
      await store.query("select $1::text as secret", ["hunter2"]);
      const entry = logger.entries.find((e) => e.sql === "select $1::text as secret");
      expect(entry).toBeDefined();
      expect(typeof entry?.durationMs).toBe("number");
      expect(JSON.stringify(logger.entries)).not.toContain("hunter2");
    });

    it("logs values when explicitly asked", async () => {
      const logger = captureLogger();
      const store = await driver.open({ logger, logStatements: { values: true } });
      await store.query("select $1::text as shown", ["visible-value"]);
      const entry = logger.entries.find((e) => e.sql === "select $1::text as shown");
      expect(entry?.values).toEqual(["visible-value"]);
    });

    it("turns on with FLOWSTORE_LOG_STATEMENTS=1", async () => {
      const logger = captureLogger();
      const store = await driver.open({ logger, env: { FLOWSTORE_LOG_STATEMENTS: "1" } });
      await store.query("select 42 as answer");
      expect(logger.entries.some((e) => e.sql === "select 42 as answer")).toBe(true);
    });
  });
});
