/**
 * A dashboard served on a store for one test (on a free port, closed after the test), and its JSON
 * API read loosely typed: the assertions check the shape.
 */
import { afterEach, expect } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { serveDashboard } from "../../src/dashboard/index.js";
import type { Store } from "../../src/index.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

export async function serve(store: Store) {
  const dashboard = await serveDashboard(store, { port: 0, logger: silentLogger, env: {} });
  open.push(dashboard);
  return dashboard;
}

// biome-ignore lint/suspicious/noExplicitAny: the JSON the API returns; the assertions check its shape
export async function getJson(url: string, path: string): Promise<any> {
  const res = await fetch(new URL(path, url));
  expect(res.status).toBe(200);
  return res.json();
}
