#!/usr/bin/env node
/**
 * The layout rules of src/, run by `npm run lint` beside Biome (which finds import cycles among files,
 * type-only imports included). A newcomer finds a feature in its folder and reads it without climbing:
 * - no folder holds more than 20 files directly (but migrations/sql/, a numbered list that only
 *   grows, which is read in order), and no file is over 400 lines;
 * - core/, config/, db/ and migrations/ are the foundation: any file may import them, and they import
 *   nothing else;
 * - a feature folder (executions/, kv/, queue/, worker/...) imports another only through that folder's
 *   index.ts, which names what the folder offers the others; what is not there is the folder's own;
 * - the files at the top (index.ts, store.ts, scope.ts) put the store together: no file below imports
 *   them, except the store's users (adapters/, cli/, dashboard/, demo/, testing/), which go through the
 *   package's door, index.ts, as a user does;
 * - the queue never imports the worker: the worker is built on the queue;
 * - the folders' imports of each other make no loop.
 *
 * Prints each broken rule with the file and exits 1; prints nothing else and exits 0 when all hold.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "src");
const MAX_FILES = 20;
const MAX_LINES = 400;
const FOUNDATION = new Set(["core", "config", "db", "migrations"]);
const USERS = new Set(["adapters", "cli", "dashboard", "demo", "testing"]);
const SOURCE = /\.(ts|mts|mjs|js)$/;
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^;"'`]*?\bfrom\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

const problems = [];
const folderEdges = new Map();

/** The folder a file belongs to: its first folder under src/ (adapters/<name> for an adapter), or "" at the top. */
function folderOf(file) {
  const parts = path.relative(ROOT, file).split(path.sep);
  if (parts.length === 1) return "";
  if (parts[0] === "adapters" && parts.length > 2) return `adapters/${parts[1]}`;
  return parts[0];
}

function topFolder(folder) {
  return folder.split("/")[0];
}

function walk(dir) {
  const entries = readdirSync(dir);
  const files = entries.filter((name) => statSync(path.join(dir, name)).isFile());
  if (files.length > MAX_FILES && path.relative(ROOT, dir) !== path.join("migrations", "sql")) {
    problems.push(`${path.relative(ROOT, dir) || "."}/: ${files.length} files, more than ${MAX_FILES}`);
  }
  for (const name of entries) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full);
    else if (SOURCE.test(name)) check(full);
  }
}

function check(file) {
  const text = readFileSync(file, "utf8");
  const shown = path.relative(ROOT, file);
  const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
  if (/\.ts$/.test(file) && !file.endsWith(".d.ts") && lines > MAX_LINES) {
    problems.push(`${shown}: ${lines} lines, more than ${MAX_LINES}`);
  }
  const from = folderOf(file);
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2];
    if (!specifier?.startsWith(".")) continue;
    const target = path.resolve(path.dirname(file), specifier);
    if (!target.startsWith(ROOT)) continue;
    const to = folderOf(target);
    const targetName = path.relative(ROOT, target);
    if (to === from) continue;
    const say = (rule) => problems.push(`${shown} imports ${targetName}: ${rule}`);
    if (from !== "") {
      const edges = folderEdges.get(from) ?? new Set();
      edges.add(to || "(top)");
      folderEdges.set(from, edges);
    }
    if (to === "") {
      if (from === "") continue;
      if (!USERS.has(topFolder(from))) say("only the store's users import the files at the top");
      else if (path.basename(target).replace(/\.js$/, "") !== "index")
        say("the store's users import index.ts, the package's door");
      continue;
    }
    if (FOUNDATION.has(to)) continue;
    if (FOUNDATION.has(from)) {
      say(`the foundation (${[...FOUNDATION].join(", ")}) imports nothing else`);
      continue;
    }
    if (from === "queue" && to === "worker") {
      say("the queue never imports the worker");
      continue;
    }
    if (from !== "" && path.relative(path.join(ROOT, to), target).replace(/\.js$/, "") !== "index") {
      say(`another folder is entered through its index.ts (${to}/index.ts)`);
    }
  }
}

/** A loop among the folders' imports, as a list of folders, or undefined. */
function folderLoop() {
  const state = new Map();
  const stack = [];
  const visit = (folder) => {
    state.set(folder, "open");
    stack.push(folder);
    for (const next of folderEdges.get(folder) ?? []) {
      if (next === "(top)" || FOUNDATION.has(next)) continue;
      if (state.get(next) === "open") return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const loop = visit(next);
        if (loop) return loop;
      }
    }
    stack.pop();
    state.set(folder, "done");
    return undefined;
  };
  for (const folder of folderEdges.keys()) {
    if (!state.has(folder)) {
      const loop = visit(folder);
      if (loop) return loop;
    }
  }
  return undefined;
}

walk(ROOT);
const loop = folderLoop();
if (loop) problems.push(`the folders import each other in a loop: ${loop.join(" -> ")}`);
if (problems.length > 0) {
  console.error(`src/ layout: ${problems.length} rule(s) broken (see scripts/check-layout.mjs)`);
  for (const problem of problems) console.error(`  ${problem}`);
  process.exit(1);
}
