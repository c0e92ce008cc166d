/**
 * The Workflow SDK's own conformance suite for Worlds, `@workflow/world-testing`, run unmodified
 * against flowstore's World on each driver. Each of its tests starts a server process that loads
 * test/fixtures/workflow-world.ts (as the run's global setup transpiled it: see cli-build.ts) and runs
 * the SDK's prebuilt workflows on it.
 */
import "../../support/with-resolvers.js";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { createTestSuite } from "@workflow/world-testing";
import { afterAll, beforeAll, describe, inject } from "vitest";
import { openStore } from "../../../src/index.js";
import { PGLITE_SCHEMA } from "../../fixtures/workflow-world.js";
import { fileDatabaseUrl, TESTED_DRIVERS } from "../../support/harness.js";

// Each server picks a free port unless PORT is set.
delete process.env.PORT;

/** A migrated PGlite data directory in a file, for each server process to start its own copy from. */
async function pgliteDump(): Promise<string> {
  const db = await PGlite.create();
  const store = await openStore({ connection: db, schema: PGLITE_SCHEMA });
  await store.close();
  const file = path.join(tmpdir(), `flowstore-world-${process.pid}.tar`);
  writeFileSync(file, Buffer.from(await (await db.dumpDataDir("none")).arrayBuffer()));
  await db.close();
  return file;
}

for (const driver of TESTED_DRIVERS.map((d) => d.name)) {
  describe(driver, () => {
    beforeAll(async () => {
      process.env.FLOWSTORE_WORLD_DRIVER = driver;
      if (driver === "postgres") process.env.FLOWSTORE_WORLD_URL = await fileDatabaseUrl();
      else process.env.FLOWSTORE_WORLD_PGLITE_DUMP = await pgliteDump();
    });
    afterAll(() => {
      const dump = process.env.FLOWSTORE_WORLD_PGLITE_DUMP;
      if (dump) rmSync(dump, { force: true });
    });
    createTestSuite(inject("worldModule"));
  });
}
