/**
 * Runs the flowstore command from source (through tsx) in a child process, as a user would run it:
 * DATABASE_URL is left out of its environment unless given, so only its flags name the store.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";

export const CLI_MAIN = path.resolve("src/cli/main.ts");
export const TSX_LOADER = pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href;

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
      ["--import", TSX_LOADER, CLI_MAIN, ...args],
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
