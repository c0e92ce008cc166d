/**
 * Test fixtures run as real processes (test/fixtures/*.ts through tsx): their stdout lines gathered,
 * their exit awaited.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { NODE_FLAGS } from "./node-flags.js";

const TSX = pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href;

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
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, "--import", TSX, path.resolve("test/fixtures", file), ...args],
    {
      stdio: [stdin ? "pipe" : "ignore", "pipe", "inherit"],
      env,
    },
  );
  const lines: string[] = [];
  if (child.stdout) createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { child, lines, exited };
}
