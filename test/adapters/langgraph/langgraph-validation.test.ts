/**
 * LangGraph's own checkpointer suite (@langchain/langgraph-checkpoint-validation), unmodified, against
 * FlowstoreSaver on each driver: the 718 cases of validate(), and the getDeltaChannelHistory cases it
 * leaves out. The suite is written for jest-style globals, which support/jest-globals.ts provides. Each
 * checkpointer it creates (about 31) gets a scope of its own on one store, emptied when destroyed.
 */
import "../../support/jest-globals.js";
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import * as vitest from "vitest";
import { FlowstoreSaver } from "../../../src/adapters/langgraph/index.js";
import type { Store } from "../../../src/index.js";
import { TESTED_DRIVERS } from "../../support/harness.js";

for (const driver of TESTED_DRIVERS) {
  let store: Store;
  let instances = 0;
  // Not named after an official saver: the suite picks its skips by this name.
  const initializer = {
    checkpointerName: `flowstore (${driver.name})`,
    beforeAllTimeout: 60_000,
    beforeAll: async () => {
      store = await driver.open();
    },
    createCheckpointer: () => new FlowstoreSaver({ store, scope: `validation-${++instances}` }),
    destroyCheckpointer: (saver: FlowstoreSaver) => saver.clear(),
  };
  validate<FlowstoreSaver>(initializer);
  vitest.describe(`${initializer.checkpointerName} (beyond validate)`, () => {
    deltaChannelHistoryTests(initializer);
  });
}
