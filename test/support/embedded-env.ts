/**
 * For the tests of the embedded store that start other processes on it: their environment, and the
 * data directories and processes a file makes, removed and killed once the file is done.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { onFileEnd } from "./file-end.js";

/** This process's environment with no server configured, so that openStore chooses the embedded store. */
export function embeddedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["DATABASE_URL", "PGHOST", "POSTGRES_HOST", "FLOWSTORE_DATA_DIR"]) delete env[name];
  return env;
}

const dirs: string[] = [];
const children: ChildProcess[] = [];

onFileEnd(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A new temporary directory (`flowstore-<name>-…`), removed after the file. */
export function tempDir(name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `flowstore-${name}-`));
  dirs.push(dir);
  return dir;
}

/** `child`, killed after the file if it still runs. */
export function killAfterFile<T extends ChildProcess>(child: T): T {
  children.push(child);
  return child;
}
