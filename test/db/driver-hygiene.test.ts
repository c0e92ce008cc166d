import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { consoleLogger, type Logger, openStore } from "../../src/index.js";
import { fileDatabaseUrl, forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe("statement logging never changes an outcome", () => {
    it("keeps a statement's outcome when the logger throws", async () => {
      const throwing: Logger = {
        debug() {
          throw new Error("logger broke");
        },
        info() {},
        warn() {},
        error() {},
      };
      const store = await driver.open({ logger: throwing, logStatements: true });
      const { rows } = await store.query<{ n: number }>("select 1 as n");
      expect(rows).toEqual([{ n: 1 }]);
      await store.transaction(async (tx) => {
        await tx.kv.set("p", "k", "v");
      });
      expect((await store.kv.get("p", "k"))?.version).toBe(1);
    });

    it("prints BigInt statement values with the console logger", async () => {
      const lines: string[] = [];
      const write = process.stderr.write;
      process.stderr.write = ((chunk: string) => {
        lines.push(String(chunk));
        return true;
      }) as typeof process.stderr.write;
      try {
        const store = await driver.open({ logger: consoleLogger("debug"), logStatements: { values: true } });
        const { rows } = await store.query<{ n: string }>("select $1::numeric::text as n", [2n ** 70n]);
        expect(rows).toEqual([{ n: (2n ** 70n).toString() }]);
      } finally {
        process.stderr.write = write;
      }
      expect(lines.some((line) => line.includes(`"${(2n ** 70n).toString()}"`))).toBe(true);
    });
  });
});

describe("inspect", () => {
  it("never shows the password of a store opened from a URL", async () => {
    const url = await fileDatabaseUrl();
    const password = decodeURIComponent(new URL(url).password);
    expect(password).not.toBe("");
    const store = await openStore({ connection: url, migrate: false });
    try {
      await store.query("select 1");
      expect(inspect(store, { depth: 10 })).not.toContain(password);
      expect(inspect(store, { depth: 10, showHidden: true })).not.toContain(password);
      expect(inspect(store.driver, { depth: 10 })).not.toContain(password);
    } finally {
      await store.close();
    }
  });
});
