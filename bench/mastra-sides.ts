/**
 * The two Mastra storages the Mastra suites (bench/mastra*.ts) compare, each opened on a database of
 * its own with a pool of 10: flowstore's, and @mastra/pg's PostgresStore with its init() run first
 * (its tables and default indexes). `schema` is where each keeps its Mastra tables.
 */
import type { MastraCompositeStore } from "@mastra/core/storage";
import { PostgresStore } from "@mastra/pg";
import pg from "pg";
import { FlowstoreMastraStorage } from "../src/adapters/mastra/index.js";
import { openStore } from "../src/index.js";

export const POOL = 10;

export interface MastraSide {
  name: string;
  schema: string;
  open(url: string): Promise<{ storage: MastraCompositeStore; close(): Promise<void> }>;
}

export const flowstoreSide: MastraSide = {
  name: "flowstore",
  schema: "flowstore",
  async open(url) {
    const store = await openStore({ connection: url, pool: { max: POOL } });
    return { storage: new FlowstoreMastraStorage({ id: "bench", store }), close: () => store.close() };
  },
};

export const mastraPgSide: MastraSide = {
  name: "@mastra/pg",
  schema: "public",
  async open(url) {
    const pool = new pg.Pool({ connectionString: url, max: POOL });
    pool.on("error", () => {});
    const storage = new PostgresStore({ id: "bench", pool });
    await storage.init();
    return { storage, close: () => pool.end() };
  },
};
