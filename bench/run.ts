/**
 * npm run bench -- <suite> [<suite> ...]   (no suite: all of them)
 * Each suite is bench/<suite>.ts exporting `run(context)`. BENCH_SCALE multiplies operation counts.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type BenchContext, CHILD_IMPORTS, log, startBenchServer } from "./lib.js";

// A suite is a file that exports run(); the others (lib.ts, workflow-v4-calls.ts...) are the suites' parts.
const available = readdirSync(new URL(".", import.meta.url))
  .filter(
    (file) =>
      file.endsWith(".ts") &&
      file !== "run.ts" &&
      /export (async function run\(|const run = )/.test(readFileSync(new URL(file, import.meta.url), "utf8")),
  )
  .map((file) => file.replace(/\.ts$/, ""));

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  process.stdout.write(
    `usage: npm run bench -- [suite ...]\nsuites: ${available.join(", ")}\nenv: BENCH_SCALE=0.1 for a quick run; BENCH_SERVER=system to run on the system's PostgreSQL (JIT on)\n`,
  );
  process.exit(0);
}
// `state` runs `workflow` too, so running everything leaves `workflow` out of the default list;
// `claims` and `history` (minutes spent seeding million-row backlogs and histories) and `citus` (a
// cluster of its own, from Citus built beside the project) and the Mastra suites (`mastra`,
// `mastra-scale`, `mastra-turn`, `mastra-layers`, `mastra-creates`, `mastra-steps`, `mastra-model`: Node.js 22, and minutes seeding 100,000 runs or a
// million messages a side) run only when named. An engine's part of `engines` (engines-<engine>.ts) runs through `engines`.
const wanted = args.length
  ? args
  : available.filter(
      (name) =>
        !["workflow", "claims", "history", "citus"].includes(name) &&
        !name.startsWith("mastra") &&
        !name.startsWith("engines-"),
    );
for (const name of wanted) {
  if (!available.includes(name)) {
    process.stderr.write(`unknown benchmark suite "${name}"; available: ${available.join(", ")}\n`);
    process.exit(2);
  }
}

// Each side of a benchmark runs on a database of its own, dropped (with force) once the side is done.
// A peer library that left a connection open to it (graphile-worker's pool under world-postgres does)
// then gets "terminating connection due to administrator command" (57P01) on a pool with no error
// listener, which would end the whole run. That error, and only that one, is reported and passed over.
process.on("uncaughtException", (error) => {
  if ((error as { code?: unknown }).code === "57P01") {
    process.stderr.write(`(a peer's connection to a dropped round database ended: ${error.message})\n`);
    return;
  }
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});

// @mastra/core needs Node.js 22.13 or newer: on an older Node.js, the run goes on under Node.js 22
// (installed from npm, as the version matrix installs it).
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
const needsNode22 = wanted.some((name) => name.startsWith("mastra"));
if (needsNode22 && (major < 22 || (major === 22 && minor < 13))) {
  const { installNode } = await import("../scripts/matrix-tools.mjs");
  const node = installNode("22", log);
  log(`the mastra suites need Node.js 22.13 or newer: running on ${node}`);
  // tsx and the package as built, as in this run (bench/built.mjs: built already, FLOWSTORE_BENCH_BUILT).
  const child = spawnSync(node, [...CHILD_IMPORTS, fileURLToPath(import.meta.url), ...args], {
    stdio: "inherit",
  });
  process.exit(child.status ?? 1);
}

const context = await startBenchServer();
try {
  for (const name of wanted) {
    process.stdout.write(`\n=== ${name} ===\n`);
    const suite = (await import(`./${name}.ts`)) as { run(context: BenchContext): Promise<void> };
    await suite.run(context);
  }
} finally {
  await context.server.stop();
}
