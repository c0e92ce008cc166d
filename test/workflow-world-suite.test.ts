/**
 * The Workflow SDK's own conformance suite for Worlds, `@workflow/world-testing`, run unmodified
 * against flowstore's World on each driver. Each of its tests starts a server process that loads
 * test/fixtures/workflow-world.ts (TypeScript, through tsx) and runs the SDK's prebuilt workflows on it.
 */
import { createTestSuite } from "@workflow/world-testing";
import { beforeAll, describe } from "vitest";
import { fileDatabaseUrl } from "./harness.js";

// Node 20 has no Promise.withResolvers, which the suite's hooks test calls in this process.
const promises = Promise as unknown as { withResolvers?: () => unknown };
promises.withResolvers ??= () => {
  let resolve!: (value: unknown) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};
// Each server picks a free port unless PORT is set; and it loads the World module through tsx.
delete process.env.PORT;
process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, "--import tsx"].filter(Boolean).join(" ");

for (const driver of ["postgres", "pglite"] as const) {
  describe(driver, () => {
    beforeAll(async () => {
      process.env.FLOWSTORE_WORLD_DRIVER = driver;
      if (driver === "postgres") process.env.FLOWSTORE_WORLD_URL = await fileDatabaseUrl();
    });
    createTestSuite("./test/fixtures/workflow-world.ts");
  });
}
