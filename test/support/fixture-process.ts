/**
 * Test fixtures run as real processes: test/fixtures/<file> as the run's global setup transpiled it
 * (cli-build.ts), plain JavaScript that Node.js starts about a second sooner than through tsx, which
 * compiled the package again in every process. Their stdout lines gathered, their exit awaited.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { inject } from "vitest";
import { NODE_FLAGS } from "./node-flags.js";

/** The path to run test/fixtures/<file> (a .ts or .mjs name) from: its JavaScript in the run's copy. */
export function fixtureScript(file: string): string {
  return path.join(inject("buildRoot"), "test", "fixtures", file.replace(/\.ts$/, ".js"));
}

export interface FixtureProcess {
  child: ChildProcess;
  /** The lines it has printed so far. */
  lines: string[];
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/**
 * Starts test/fixtures/<file> with `args`; stdin is a pipe when `stdin` is true; `env` replaces this
 * process's environment for it.
 */
export function startFixture(
  file: string,
  args: string[],
  { stdin = false, env }: { stdin?: boolean; env?: NodeJS.ProcessEnv } = {},
): FixtureProcess {
  const child = spawn(process.execPath, [...NODE_FLAGS, fixtureScript(file), ...args], {
    stdio: [stdin ? "pipe" : "ignore", "pipe", "inherit"],
    env,
  });
  const lines: string[] = [];
  if (child.stdout) createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { child, lines, exited };
}
