#!/usr/bin/env node
/**
 * Each engine flowstore serves, tested at the versions its users install, on both drivers:
 *
 *   npm run test:engines                 the versions the project pins (CI's)
 *   npm run test:engines -- --newest     the newest stable release and the newest prerelease of each
 *                                        engine, read from the npm registry now
 *   npm run test:engines -- --engine openai-agents --version @openai/agents@0.19.0
 *                                        one engine at a version of your choice (the line "given")
 *   options: --engine <name> (workflow, langgraph, mastra, openai-agents; repeatable), --json
 *
 * The Workflow SDK is tested as its users run it: an app made with `npm install workflow flowstore`
 * and the SDK's own `workflow build` (the 4.x stable line and the 5.0 prerelease line each have their
 * test, which installs the version given). LangGraph (@langchain/langgraph with its checkpoint
 * package), Mastra (@mastra/core, on Node.js 22) and the OpenAI Agents SDK (@openai/agents) run their
 * adapter's test files in a scratch copy of the project (.test-data/engines/), the engine installed
 * there at the version tested. A prerelease line is tested where the registry has a prerelease newer
 * than the newest stable release; otherwise the table says there is none.
 *
 * Prints one line of progress per step and, at the end, a table of engine × line × version × driver ×
 * result (with --json, the same as JSON). Not part of .ci/run: the newest versions change by the day.
 * Run it before every release (docs/contributing.md). Exits 1 when any test failed.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { printHelpAndExit } from "./help.mjs";
import { installNode } from "./matrix-tools.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(ROOT);

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) printHelpAndExit(import.meta.url);
const newest = args.includes("--newest");
const asJson = args.includes("--json");
const wanted = args.flatMap((arg, i) => (args[i - 1] === "--engine" ? [arg] : []));
/** Versions given with --version <package>@<version>: a line "given" of the engines they belong to. */
const given = Object.fromEntries(
  args.flatMap((arg, i) =>
    args[i - 1] === "--version"
      ? [[arg.slice(0, arg.lastIndexOf("@")), arg.slice(arg.lastIndexOf("@") + 1)]]
      : [],
  ),
);
const say = (line) => (asJson ? process.stderr : process.stdout).write(`test-engines: ${line}\n`);
const pinned = JSON.parse(readFileSync("package.json", "utf8")).devDependencies;

/**
 * The engines: the packages a line's version is of (the first names the line), and how it is tested.
 * `pin` is the version the project pins for a line.
 */
const ENGINES = [
  {
    name: "workflow",
    packages: ["workflow"],
    lines: {
      stable: { pin: pinned["@workflow/core-4"].replace(/^npm:@workflow\/core@/, "") },
      prerelease: { pin: "5.0.0-beta.55" },
    },
    // Each line's app test installs the version it is given: no scratch copy.
    app: {
      stable: { file: "test/adapters/workflow/workflow-app-v4.test.ts", env: "FLOWSTORE_WORKFLOW_STABLE" },
      prerelease: {
        file: "test/adapters/workflow/workflow-app-slots.test.ts",
        env: "FLOWSTORE_WORKFLOW_PRERELEASE",
      },
    },
  },
  {
    name: "langgraph",
    packages: ["@langchain/langgraph", "@langchain/langgraph-checkpoint"],
    tests: ["test/adapters/langgraph"],
  },
  { name: "mastra", packages: ["@mastra/core"], tests: ["test/adapters/mastra"], node: "22" },
  {
    name: "openai-agents",
    packages: ["@openai/agents", "@openai/agents-core"],
    // Released together: @openai/agents depends on its own version of the core.
    lockstep: true,
    tests: ["test/adapters/openai-agents"],
  },
].filter((engine) => wanted.length === 0 || wanted.includes(engine.name));

/** A version's parts for ordering: [major, minor, patch, prerelease identifiers or null]. */
function parse(version) {
  const [core, pre] = version.split(/-(.*)/s);
  return [...core.split(".").map(Number), pre === undefined ? null : pre.split(".")];
}

/** Semantic version precedence: negative when a comes first. */
export function compareVersions(a, b) {
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  if (x[3] === null || y[3] === null) return (x[3] === null) - (y[3] === null);
  for (let i = 0; i < Math.max(x[3].length, y[3].length); i++) {
    const [p, q] = [x[3][i], y[3][i]];
    if (p === undefined || q === undefined) return p === undefined ? -1 : 1;
    const [pn, qn] = [/^\d+$/.test(p), /^\d+$/.test(q)];
    if (pn && qn && Number(p) !== Number(q)) return Number(p) - Number(q);
    if (pn !== qn) return pn ? -1 : 1;
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

/** The newest stable release, and the newest prerelease newer than it (or null), from the registry. */
function newestOf(pkg) {
  const versions = JSON.parse(
    execFileSync("npm", ["view", pkg, "versions", "--json"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  const sorted = [].concat(versions).sort(compareVersions);
  const stable = sorted.filter((v) => !v.includes("-")).at(-1);
  const prerelease = sorted.filter((v) => v.includes("-") && compareVersions(v, stable) > 0).at(-1) ?? null;
  return { stable, prerelease };
}

/** The versions to test per line: { line: { package: version } }, or null for a line with none. */
function versionsOf(engine) {
  const lines = linesOf(engine);
  if (!engine.lockstep) return lines;
  // Every package of a lockstep engine at its first package's version.
  return Object.fromEntries(
    Object.entries(lines).map(([line, versions]) => [
      line,
      versions && Object.fromEntries(engine.packages.map((pkg) => [pkg, versions[engine.packages[0]]])),
    ]),
  );
}

function linesOf(engine) {
  if (engine.packages.some((pkg) => given[pkg])) {
    const versions = Object.fromEntries(
      engine.packages.map((pkg) => [pkg, given[pkg] ?? pinned[pkg]]).filter(([, v]) => v),
    );
    return { given: versions };
  }
  if (!newest) {
    if (engine.app) {
      return Object.fromEntries(
        Object.entries(engine.lines).map(([line, { pin }]) => [line, { [engine.packages[0]]: pin }]),
      );
    }
    return {
      pinned: Object.fromEntries(engine.packages.map((pkg) => [pkg, pinned[pkg] ?? "(as installed)"])),
    };
  }
  const found = Object.fromEntries(engine.packages.map((pkg) => [pkg, newestOf(pkg)]));
  const lines = { stable: {}, prerelease: {} };
  for (const [pkg, { stable, prerelease }] of Object.entries(found)) {
    lines.stable[pkg] = stable;
    if (prerelease) lines.prerelease[pkg] = prerelease;
  }
  // A prerelease line exists where its first package has one; the others take their newest stable.
  if (!lines.prerelease[engine.packages[0]]) return { stable: lines.stable, prerelease: null };
  for (const pkg of engine.packages) lines.prerelease[pkg] ??= lines.stable[pkg];
  return lines;
}

/** A copy of the project (its tracked files and its node_modules) to install an engine's version in. */
function scratchCopy(label) {
  const dir = path.join(ROOT, ".test-data", "engines", label);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = execFileSync("git", ["ls-files", "-z"], { encoding: "utf8" }).split("\0").filter(Boolean);
  for (const file of files) {
    if (existsSync(file)) cpSync(file, path.join(dir, file), { recursive: true });
  }
  cpSync("node_modules", path.join(dir, "node_modules"), { recursive: true, verbatimSymlinks: true });
  return dir;
}

/** Runs vitest on `files` in `cwd`; the results per driver from its JSON report. */
function runTests(cwd, files, { env = {}, node = process.execPath } = {}) {
  const report = path.join(cwd, ".test-data", `engines-report-${process.pid}.json`);
  mkdirSync(path.dirname(report), { recursive: true });
  rmSync(report, { force: true });
  spawnSync(
    node,
    [
      "node_modules/vitest/vitest.mjs",
      "run",
      "--reporter=dot",
      "--reporter=json",
      `--outputFile.json=${report}`,
      ...files,
    ],
    {
      cwd,
      stdio: asJson ? ["ignore", "ignore", "inherit"] : "inherit",
      env: { ...process.env, ...env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}` },
    },
  );
  const byDriver = {};
  if (!existsSync(report)) return { error: "vitest wrote no report" };
  for (const file of JSON.parse(readFileSync(report, "utf8")).testResults ?? []) {
    for (const test of file.assertionResults ?? []) {
      const driver = test.ancestorTitles.find((title) => title === "postgres" || title === "pglite") ?? "-";
      byDriver[driver] ??= { passed: 0, failed: 0, skipped: 0, failures: [] };
      const counts = byDriver[driver];
      if (test.status === "passed") counts.passed++;
      else if (test.status === "failed") {
        counts.failed++;
        counts.failures.push(`${test.fullName}: ${(test.failureMessages?.[0] ?? "").split("\n")[0]}`);
      } else counts.skipped++;
    }
    if (file.status === "failed" && (file.assertionResults ?? []).length === 0) {
      byDriver["-"] ??= { passed: 0, failed: 0, skipped: 0, failures: [] };
      const counts = byDriver["-"];
      counts.failed++;
      counts.failures.push(`${path.relative(cwd, file.name)}: ${(file.message ?? "").split("\n")[0]}`);
    }
  }
  return byDriver;
}

const rows = [];
for (const engine of ENGINES) {
  say(`${engine.name}: ${newest ? "asking the registry for the newest versions" : "the pinned versions"}`);
  for (const [line, versions] of Object.entries(versionsOf(engine))) {
    if (versions === null) {
      rows.push({
        engine: engine.name,
        line,
        version: "none newer than the stable release",
        driver: "-",
        result: "not tested",
      });
      continue;
    }
    const version = Object.entries(versions)
      .map(([pkg, v]) => (engine.packages.length > 1 ? `${pkg}@${v}` : v))
      .join(" ");
    say(`${engine.name} ${line} ${version}: testing`);
    let byDriver;
    if (engine.app) {
      const appLine =
        line === "given" ? (/-|^[5-9]\./.test(versions[engine.packages[0]]) ? "prerelease" : "stable") : line;
      const { file, env } = engine.app[appLine];
      byDriver = runTests(ROOT, [file], { env: { [env]: versions[engine.packages[0]] } });
    } else {
      const isPinned = Object.entries(versions).every(
        ([pkg, v]) => pinned[pkg] === undefined || pinned[pkg] === v,
      );
      let cwd = ROOT;
      if (!isPinned) {
        cwd = scratchCopy(`${engine.name}-${line}`);
        say(
          `${engine.name} ${line}: npm install ${Object.entries(versions)
            .map(([p, v]) => `${p}@${v}`)
            .join(" ")}`,
        );
        execFileSync(
          "npm",
          [
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            ...Object.entries(versions).map(([p, v]) => `${p}@${v}`),
          ],
          {
            cwd,
            stdio: asJson ? ["ignore", "ignore", "inherit"] : "inherit",
          },
        );
      }
      const node = engine.node ? installNode(engine.node, say) : process.execPath;
      byDriver = runTests(cwd, engine.tests, { node });
    }
    for (const [driver, counts] of Object.entries(byDriver)) {
      if (driver === "error") {
        rows.push({ engine: engine.name, line, version, driver: "-", result: counts });
        continue;
      }
      rows.push({
        engine: engine.name,
        line,
        version,
        driver,
        result: counts.failed ? "FAILED" : counts.passed ? "passed" : "skipped",
        ...counts,
      });
    }
  }
}

if (asJson) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
} else {
  const header = ["engine", "line", "version", "driver", "passed", "failed", "skipped", "result"];
  const table = [
    header,
    ...rows.map((r) => [
      r.engine,
      r.line,
      r.version,
      r.driver,
      r.passed ?? "-",
      r.failed ?? "-",
      r.skipped ?? "-",
      r.result,
    ]),
  ];
  const widths = header.map((_, i) => Math.max(...table.map((row) => String(row[i]).length)));
  process.stdout.write("\n");
  for (const row of table)
    process.stdout.write(
      `${row
        .map((cell, i) => String(cell).padEnd(widths[i]))
        .join("  ")
        .trimEnd()}\n`,
    );
  for (const r of rows)
    for (const failure of r.failures ?? [])
      process.stdout.write(`  ${r.engine} ${r.line} ${r.driver}: ${failure}\n`);
  if (rows.some((r) => r.driver === "-" && r.passed !== undefined)) {
    process.stdout.write(
      "driver -: tests whose names say no driver (a suite of the engine's own that runs on each, or a file's own setup)\n",
    );
  }
}
process.exit(rows.some((r) => r.result === "FAILED" || typeof r.result === "object") ? 1 : 0);
