/**
 * Mastra (@mastra/core) needs Node.js 22.13 or newer. Its tests skip on an older Node.js, saying so;
 * `npm run test:mastra` runs them on Node.js 22 whatever Node.js runs npm (scripts/test-mastra.mjs).
 */
import { describe } from "vitest";
import type { Logger } from "../../src/index.js";

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);

/** True when this Node.js can run Mastra. */
export const MASTRA_SUPPORTED = major > 22 || (major === 22 && minor >= 13);

/** `describe`, skipped with the reason on a Node.js Mastra does not run on. */
export function describeMastra(name: string, tests: () => void): void {
  if (MASTRA_SUPPORTED) describe(name, tests);
  else describe.skip(`${name} (needs Node.js 22.13 or newer: npm run test:mastra)`, tests);
}

/** The statements a store sent, with their values as JSON, kept by the logger it is opened with. */
export function statementsSent(): { sent: { sql: string; values: string }[]; logger: Logger } {
  const sent: { sql: string; values: string }[] = [];
  const keep = (entry: Record<string, unknown>) => {
    if (typeof entry.sql === "string") sent.push({ sql: entry.sql, values: JSON.stringify(entry.values) });
  };
  return { sent, logger: { debug: keep, info: keep, warn: keep, error: keep } };
}
