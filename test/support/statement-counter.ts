import type { Logger } from "../../src/index.js";

/** A logger that counts the statements statement logging reports. */
export function statementCounter(): Logger & { statements: number } {
  const ignore = () => {};
  const counter = {
    statements: 0,
    debug: (entry: Record<string, unknown>) => {
      if (typeof entry.sql === "string") counter.statements++;
    },
    info: ignore,
    warn: ignore,
    error: ignore,
  };
  return counter;
}
