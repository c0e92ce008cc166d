/**
 * The package as an application meets it: packed, installed into a fresh app for production
 * (`npm install --omit=dev`), it is small, has one PGlite, ships its LICENSE, what its README links to
 * and no source maps pointing at sources it does not ship; `import` and `require` both load it, a store opens and runs a
 * job, a strict application type-checks against it without skipLibCheck (a typed queue's wrong payload
 * fails to compile there as in the sources), and the command prints its version. Packed as from a
 * fresh clone (packed.ts).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { STRICT_APP_OPTIONS } from "../support/app-tsconfig.js";
import { packedTarball } from "../support/packed.js";

const work = mkdtempSync(path.join(tmpdir(), "flowstore-package-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every file under `dir`, as paths. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? walk(full) : [full];
  });
}

/** The relative links of README.md (to files or folders of the repository), without their anchors. */
function readmeLinks(): string[] {
  const readme = readFileSync("README.md", "utf8");
  const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1] as string);
  const relative = targets.filter((target) => !/^([a-z]+:|#)/i.test(target));
  return [...new Set(relative.map((target) => target.replace(/#.*$/, "")))];
}

/** Whether a tarball entry is the linked file, or inside the linked folder. */
function inPackage(entry: string, link: string): boolean {
  const target = path.posix.join("package", link);
  return entry === target || entry.startsWith(`${target.replace(/\/$/, "")}/`);
}

const SCRIPT = `
  const store = await openStore({ connection: "memory" });
  await store.jobs.enqueue({ queue: "q", name: "hello" });
  const [job] = await store.jobs.claim({ queue: "q", workerId: "w" });
  await store.jobs.complete(job);
  console.log(job.name);
  await store.close();`;

it("installs small, with one PGlite and its LICENSE, and loads by import and require", {
  timeout: 300_000,
}, async () => {
  const tarball = packedTarball();
  const listed = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).split("\n");
  expect(listed).toContain("package/dist/index.js");
  expect(listed).toContain("package/dist/migrations/sql/0001_bookkeeping.sql");
  // The README is read on npm too: every file or folder it links to must be in the package.
  expect(readmeLinks().filter((link) => !listed.some((entry) => inPackage(entry, link)))).toEqual([]);
  const app = path.join(work, "app");
  execFileSync("mkdir", ["-p", app]);
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
  execFileSync("npm", ["install", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund", tarball], {
    cwd: app,
    stdio: "ignore",
  });
  const modules = path.join(app, "node_modules");
  const files = walk(modules);
  const megabytes = files.reduce((sum, file) => sum + statSync(file).size, 0) / 2 ** 20;
  expect(megabytes).toBeLessThan(40);
  const pglites = files.filter((file) => file.endsWith(path.join("@electric-sql", "pglite", "package.json")));
  expect(pglites).toHaveLength(1);
  const own = path.join(modules, "flowstore");
  expect(existsSync(path.join(own, "LICENSE"))).toBe(true);
  expect(walk(own).filter((file) => file.endsWith(".map"))).toEqual([]);

  writeFileSync(path.join(app, "esm.mjs"), `import { openStore } from "flowstore";\n${SCRIPT}`);
  writeFileSync(
    path.join(app, "cjs.cjs"),
    `const { openStore } = require("flowstore");\n(async () => {${SCRIPT}\n})();`,
  );
  for (const script of ["esm.mjs", "cjs.cjs"]) {
    expect(execFileSync(process.execPath, [script], { cwd: app, encoding: "utf8" }).trim()).toBe("hello");
  }
  // A strict application type-checks against the package's declarations, its dependencies' included
  // (no skipLibCheck), and a wrong connection is a type error.
  execFileSync(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", "typescript@5", "@types/node@20"],
    { cwd: app, stdio: "ignore" },
  );
  writeFileSync(
    path.join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: STRICT_APP_OPTIONS,
      include: ["app.mts"],
    }),
  );
  writeFileSync(
    path.join(app, "app.mts"),
    `import { defineQueue, openStore, type Transaction } from "flowstore";
const store = await openStore({ connection: "memory" });
store.jobs.work({ queue: "q", transactional: true, handler: async (job, { tx }) => {
  const scope: Transaction = tx;
  await scope.kv.set("seen", job.id, "yes");
} });
// @ts-expect-error a connection is a URL, fields, a pg Pool or a PGlite, not a number
await openStore({ connection: 123 });
const emails = defineQueue<{ welcome: { userId: string }; digest: { day: string } }>("emails");
await store.jobs.queue(emails).enqueue("welcome", { userId: "u1" }, { priority: 1 });
await store.transaction((tx) => tx.jobs.queue(emails).enqueue("digest", { day: "mon" }));
// @ts-expect-error a digest's payload is a day, not a userId
await store.jobs.queue(emails).enqueue("digest", { userId: "u1" });
store.jobs.queue(emails).work({ transactional: true, handler: async (job, { tx }) => {
  const userId: string = job.name === "welcome" ? job.payload.userId : job.payload.day;
  await tx.kv.set("emailed", userId, job.name);
} });
await store.close();
`,
  );
  execFileSync(process.execPath, [path.join(app, "node_modules", "typescript", "bin", "tsc"), "-p", app], {
    cwd: app,
    encoding: "utf8",
  });
  const version = execFileSync(process.execPath, [path.join(own, "dist", "cli", "main.js"), "--version"], {
    encoding: "utf8",
  });
  expect(version.trim()).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
});
