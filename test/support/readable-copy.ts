/**
 * For tests that run a child process as an unprivileged user when the test runs as root. That user
 * reads the code it runs from the checkout, which a checkout in a directory only root may enter (a
 * `mktemp -d` directory, anything under /root) keeps out of its reach, links into it included. Then
 * what the child imports is copied where it can read it: src, its fixture, and the installed
 * packages it loads (tsx, flowstore's dependencies and theirs), not the whole node_modules.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { onFileEnd } from "./file-end.js";

/** The copies made by this test file, by what they hold; removed after it. */
const copies = new Map<string, string>();
onFileEnd(() => {
  for (const dir of copies.values()) rmSync(dir, { recursive: true, force: true });
  copies.clear();
});

export interface OsUser {
  uid: number;
  gid: number;
}

/** Whether `user` can read `file` (every directory above it entered). */
export function readableBy(user: OsUser, file: string): boolean {
  return spawnSync("test", ["-r", file], { uid: user.uid, gid: user.gid }).status === 0;
}

/** The packages of `installed` (a node_modules) that `roots` load, their dependencies' too. */
export function packageClosure(installed: string, roots: readonly string[]): Set<string> {
  const found = new Set<string>();
  const queue = [...roots];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    const manifest = path.join(installed, name, "package.json");
    if (found.has(name) || !existsSync(manifest)) continue;
    found.add(name);
    const json = JSON.parse(readFileSync(manifest, "utf8")) as Record<string, Record<string, string>>;
    for (const field of ["dependencies", "optionalDependencies", "peerDependencies"]) {
      queue.push(...Object.keys(json[field] ?? {}));
    }
  }
  return found;
}

/** What a child run with tsx on flowstore's src loads: tsx and flowstore's runtime dependencies. */
export function runtimeRoots(repo: string): string[] {
  const json = JSON.parse(readFileSync(path.join(repo, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  return ["tsx", ...Object.keys(json.dependencies ?? {})];
}

/**
 * The repository's code as `user` can read it: the repository itself when it can, else a copy in a
 * fresh directory others may enter, of package.json, src, the `files` given (relative paths) and the
 * packages of runtimeRoots. Returns the directory to run from.
 */
export function readableCheckout(repo: string, user: OsUser, files: readonly string[] = []): string {
  if (readableBy(user, path.join(repo, "node_modules/tsx/dist/loader.mjs"))) return repo;
  const key = JSON.stringify([repo, files]);
  const made = copies.get(key);
  if (made) return made;
  const dir = mkdtempSync(path.join(tmpdir(), "flowstore-readable-"));
  copies.set(key, dir);
  chmodSync(dir, 0o755);
  for (const entry of ["package.json", "src", ...files]) {
    cpSync(path.join(repo, entry), path.join(dir, entry), { recursive: true });
  }
  const installed = realpathSync(path.join(repo, "node_modules"));
  for (const name of packageClosure(installed, runtimeRoots(repo))) {
    mkdirSync(path.dirname(path.join(dir, "node_modules", name)), { recursive: true });
    cpSync(path.join(installed, name), path.join(dir, "node_modules", name), { recursive: true });
  }
  return dir;
}
