/**
 * Runs the flowstore command in a child process, as a user would run it: the sources as this run's
 * global setup transpiled them (cli-build.ts), with `node`. DATABASE_URL is left out of its environment
 * unless given, so only its flags name the store.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { inject } from "vitest";
import { NODE_FLAGS } from "./node-flags.js";

export const TSX_LOADER = pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href;

/** The command's entry point, as JavaScript: `node <CLI_MAIN> ...args`. */
export const CLI_MAIN = inject("cliMain");

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  { cwd, env = {} }: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<CliRun> {
  const environment: NodeJS.ProcessEnv = { ...process.env };
  delete environment.DATABASE_URL;
  Object.assign(environment, env);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_FLAGS, CLI_MAIN, ...args],
      { cwd, env: environment, encoding: "utf8" },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `fn` over the items, `size` at a time (a few command processes at once, not dozens). */
export async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size)
    results.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return results;
}
