/**
 * The engines' adapters on a distributed schema: LangGraph's own checkpointer suite
 * (@langchain/langgraph-checkpoint-validation) against FlowstoreSaver, and the Workflow SDK's own
 * World suite (@workflow/world-testing) against flowstore's World, each unmodified, on a store whose
 * schema docs/scale-out.md's calls distributed over a real Citus cluster (test/support/citus.ts).
 */
import "../support/with-resolvers.js";
import "../support/jest-globals.js";
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import { createTestSuite } from "@workflow/world-testing";
import * as vitest from "vitest";
import { FlowstoreSaver } from "../../src/adapters/langgraph/index.js";
import { consoleLogger, openStore, type Store } from "../../src/index.js";
import { type CitusCluster, citusSkipped, distributeForWorkload, startCitus } from "../support/citus.js";

const unavailable = citusSkipped("the adapters' suites on Citus");

let cluster: CitusCluster | undefined;
vitest.afterAll(async () => {
  await cluster?.stop();
});

/** A schema migrated by openStore and distributed by the document's calls, on the file's cluster. */
async function distributedSchema(schema: string): Promise<string> {
  cluster ??= (await startCitus()) as CitusCluster;
  await distributeForWorkload(cluster.url, schema);
  return cluster.url;
}

vitest.describe.skipIf(unavailable !== undefined)("on a distributed schema", () => {
  let store: Store;
  let instances = 0;
  // Not named after an official saver: the suite picks its skips by this name.
  const initializer = {
    checkpointerName: "flowstore (citus)",
    beforeAllTimeout: 180_000,
    beforeAll: async () => {
      const url = await distributedSchema("langgraph");
      store = await openStore({ connection: url, schema: "langgraph", logger: consoleLogger("warn") });
    },
    afterAll: async () => {
      await store?.close();
    },
    createCheckpointer: () => new FlowstoreSaver({ store, scope: `validation-${++instances}` }),
    destroyCheckpointer: (saver: FlowstoreSaver) => saver.clear(),
  };
  validate<FlowstoreSaver>(initializer);
  vitest.describe(`${initializer.checkpointerName} (beyond validate)`, () => {
    deltaChannelHistoryTests(initializer);
  });

  vitest.describe("the Workflow SDK's World suite", () => {
    vitest.beforeAll(async () => {
      // Each of the suite's server processes opens this schema (test/fixtures/workflow-world.ts).
      process.env.FLOWSTORE_WORLD_DRIVER = "postgres";
      process.env.FLOWSTORE_WORLD_URL = await distributedSchema("world");
      process.env.FLOWSTORE_WORLD_SCHEMA = "world";
      delete process.env.PORT;
    }, 180_000);
    createTestSuite(vitest.inject("worldModule"));
  });
});
