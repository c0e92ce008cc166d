/**
 * The errors of a first contact that goes wrong say what is wrong and where, as a ConnectionError: a
 * server that is not there names the URL it tried (never its password) and asks whether the server
 * runs; a database that does not exist is named as missing; an embedded data directory that cannot
 * be written names the directory, not a bare EACCES or ENOTDIR.
 */
import { execFile, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectionError, MigrationError, openStore } from "../../src/index.js";
import { fileDatabaseUrl } from "../support/harness.js";
import { NODE_FLAGS } from "../support/node-flags.js";
import { readableCheckout } from "../support/readable-copy.js";

const PASSWORD = "s3cret-pw";
const FIXTURE_PATH = "test/fixtures/open-embedded.ts";
const FIXTURE = path.resolve(FIXTURE_PATH);
const TSX = pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href;
const isRoot = process.getuid?.() === 0;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) {
    chmodSync(dir, 0o700);
    rmSync(dir, { recursive: true, force: true });
  }
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "flowstore-first-contact-"));
  dirs.push(dir);
  return dir;
}

/** A port on 127.0.0.1 nothing listens on (it was free a moment ago). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

/** What openStore threw; fails the test if it opened. */
async function failure(open: Promise<{ close(): Promise<void> }>): Promise<ConnectionError> {
  const error = await open.then(
    async (store) => {
      await store.close();
      return new Error("opened");
    },
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ConnectionError);
  return error as ConnectionError;
}

describe("postgres", () => {
  describe("first contact", () => {
    let port: number;
    beforeAll(async () => {
      port = await closedPort();
    });

    it("a server that is not there: names the URL without its password, and asks whether it runs", async () => {
      const shown = `postgres://flowstore:***@127.0.0.1:${port}/app`;
      for (const connection of [
        // sslmode=prefer, the default, tries TLS first and then without: either way, the same error.
        `postgres://flowstore:${PASSWORD}@127.0.0.1:${port}/app`,
        `postgres://flowstore:${PASSWORD}@127.0.0.1:${port}/app?sslmode=disable`,
        { host: "127.0.0.1", port, user: "flowstore", password: PASSWORD, database: "app" },
      ]) {
        const error = await failure(openStore({ connection, pool: { connectionTimeoutMs: 2000 } }));
        expect(error.code).toBe("CONNECTION");
        expect(error.message).toContain(`cannot reach PostgreSQL at ${shown}`);
        expect(error.message).toMatch(/is the server running/);
        expect(error.message).not.toContain(PASSWORD);
        expect((error.cause as { code?: string }).code).toBe("ECONNREFUSED");
      }
    });

    it("a pool of the user's whose server is not there: asks whether it runs", async () => {
      const pool = new pg.Pool({ host: "127.0.0.1", port, user: "u", password: PASSWORD, database: "app" });
      try {
        const error = await failure(openStore({ connection: pool }));
        expect(error.message).toMatch(
          /^cannot reach PostgreSQL through the pool given: .*is the server running/,
        );
        expect(error.message).not.toContain(PASSWORD);
      } finally {
        await pool.end();
      }
    });

    it("a database that does not exist: says so, naming it", async () => {
      const url = new URL(await fileDatabaseUrl());
      const password = decodeURIComponent(url.password);
      url.pathname = "/no_such_database";
      for (const connection of [
        url.toString(),
        url.toString().replace(/sslmode=[a-z-]+/, "sslmode=prefer"),
      ]) {
        const error = await failure(openStore({ connection }));
        expect(error.sqlState).toBe("3D000");
        expect(error.message).toContain('database "no_such_database" does not exist');
        expect(error.message).toContain(
          `PostgreSQL at postgres://${url.username}:***@${url.host}/no_such_database`,
        );
        expect(error.message).not.toContain(password);
      }
      const pool = new pg.Pool({ connectionString: url.toString() });
      try {
        const error = await failure(openStore({ connection: pool }));
        expect(error.sqlState).toBe("3D000");
        expect(error.message).toContain('database "no_such_database" does not exist');
      } finally {
        await pool.end();
      }
    });
  });
});

describe("postgres, refused", () => {
  describe("a first contact refused", () => {
    it("a wrong password: says it was refused for that user at that host, and where it was taken from, never showing it", async () => {
      const url = new URL(await fileDatabaseUrl());
      const wrong = "not-the-password";
      const user = decodeURIComponent(url.username);
      const bare = new URL(url);
      bare.password = "";
      const withWrong = new URL(url);
      withWrong.password = wrong;
      const sslMode = url.searchParams.get("sslmode") ?? "prefer";
      const database = url.pathname.slice(1);
      const sources: [Parameters<typeof openStore>[0], string][] = [
        [{ connection: withWrong.toString() }, "the connection URL"],
        [
          {
            connection: `host=${url.hostname} port=${url.port} user=${user} dbname=${database} sslmode=${sslMode} password=${wrong}`,
          },
          "the connection string",
        ],
        [
          {
            connection: {
              host: url.hostname,
              port: Number(url.port),
              user,
              database,
              sslMode: sslMode as "disable",
              password: wrong,
            },
          },
          "the password field of the connection options",
        ],
        [{ connection: bare.toString(), env: { PGPASSWORD: wrong } }, "PGPASSWORD"],
        [{ env: { DATABASE_URL: withWrong.toString() } }, "DATABASE_URL"],
      ];
      for (const [options, source] of sources) {
        const error = await failure(openStore(options));
        expect(error.sqlState).toBe("28P01");
        expect(error.message).toContain(
          `the password given for user "${user}" was refused by PostgreSQL at ${url.host}; it was taken from ${source}`,
        );
        expect(error.message).not.toContain(wrong);
      }
    });

    it("a pool of the user's with a wrong password: says it came from the pool's options", async () => {
      const url = new URL(await fileDatabaseUrl());
      url.password = "not-the-password";
      const pool = new pg.Pool({ connectionString: url.toString() });
      try {
        const error = await failure(openStore({ connection: pool }));
        expect(error.sqlState).toBe("28P01");
        expect(error.message).toContain(
          "the password in the pool's options (its password or connectionString) was refused",
        );
        expect(error.message).not.toContain("not-the-password");
      } finally {
        await pool.end();
      }
    });

    it("a wrong password from a password file: names the file node-postgres read it from", async () => {
      const url = new URL(await fileDatabaseUrl());
      const user = decodeURIComponent(url.username);
      url.password = "";
      // The password file's format and permissions, as libpq and node-postgres read it.
      const file = path.join(tempDir(), "pgpass");
      writeFileSync(file, `${url.hostname}:${url.port}:*:${user}:not-the-password\n`, { mode: 0o600 });
      const saved = { PGPASSFILE: process.env.PGPASSFILE, PGPASSWORD: process.env.PGPASSWORD };
      process.env.PGPASSFILE = file;
      delete process.env.PGPASSWORD;
      try {
        const error = await failure(openStore({ connection: url.toString(), env: {} }));
        expect(error.sqlState).toBe("28P01");
        expect(error.message).toContain(
          `the password for user "${user}" in the password file ${file} was refused by PostgreSQL at ${url.host}`,
        );
        expect(error.message).not.toContain("not-the-password");
      } finally {
        for (const [name, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
        }
      }
    });

    it("a role that may not create: the migration says what to grant, and that flowstore sql prints the DDL", async () => {
      const admin = new URL(await fileDatabaseUrl());
      const role = `no_create_${process.pid}`;
      const database = admin.pathname.slice(1);
      const client = new pg.Client({ connectionString: admin.toString() });
      await client.connect();
      try {
        await client.query(`drop role if exists ${role}`);
        await client.query(`create role ${role} login password '${PASSWORD}'`);
        const url = new URL(admin.toString());
        url.username = role;
        url.password = PASSWORD;
        const schema = `nc_${process.pid}`;
        const error = await openStore({ connection: url.toString(), schema }).then(
          async (store) => {
            await store.close();
            return new Error("opened");
          },
          (thrown: unknown) => thrown as Error,
        );
        expect(error).toBeInstanceOf(MigrationError);
        expect(error.message).toMatch(/permission denied/);
        expect(error.message).toContain(`grant create on database "${database}" to "${role}"`);
        expect(error.message).toMatch(/flowstore sql/);
        expect(error.message).not.toContain(PASSWORD);
        // Nothing written: the schema was not made.
        const made = await client.query("select 1 from pg_namespace where nspname = $1", [schema]);
        expect(made.rowCount).toBe(0);

        // Given a schema of someone else's, in which it may not create: the grant on that schema.
        await client.query(`create schema ${schema}`);
        await client.query(`grant create on database "${database}" to ${role}`);
        const inSchema = await openStore({ connection: url.toString(), schema }).then(
          async (store) => {
            await store.close();
            return new Error("opened");
          },
          (thrown: unknown) => thrown as Error,
        );
        expect(inSchema).toBeInstanceOf(MigrationError);
        expect(inSchema.message).toContain(`grant usage, create on schema "${schema}" to "${role}"`);
        const tables = await client.query("select 1 from pg_tables where schemaname = $1", [schema]);
        expect(tables.rowCount).toBe(0);
        await client.query(`drop schema ${schema}`);
      } finally {
        await client.query(`drop owned by ${role}`).catch(() => {});
        await client.query(`drop role if exists ${role}`).catch(() => {});
        await client.end();
      }
    });
  });
});

/** Opens the embedded store in `dataDir` in another process, as `user` if given; what it reported. */
function openElsewhere(
  dataDir: string,
  user?: { uid: number; gid: number },
): Promise<{ ok: boolean; error?: string; message?: string }> {
  const env = { ...process.env };
  for (const name of ["DATABASE_URL", "PGHOST", "POSTGRES_HOST", "FLOWSTORE_DATA_DIR"]) delete env[name];
  // An unprivileged user may not reach the checkout (as root, in a directory only root may enter).
  const from = user ? readableCheckout(path.resolve("."), user, ["test/fixtures/open-embedded.ts"]) : ".";
  const [tsx, fixture] = user
    ? [
        pathToFileURL(path.resolve(from, "node_modules/tsx/dist/loader.mjs")).href,
        path.resolve(from, FIXTURE_PATH),
      ]
    : [TSX, FIXTURE];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...NODE_FLAGS, "--import", tsx, fixture, dataDir],
      { env, encoding: "utf8", cwd: from, ...user },
      (_error, stdout, stderr) => {
        const line = stdout.trim().split("\n").pop() ?? "";
        if (!line.startsWith("{")) reject(new Error(`no outcome: ${stderr}`));
        else resolve(JSON.parse(line));
      },
    );
  });
}

/** An unprivileged user to run as, when this process is root (whom no file mode stops). */
function unprivileged(): { uid: number; gid: number } | undefined {
  if (!isRoot) return undefined;
  const id = (flag: string) => spawnSync("id", [flag, "nobody"], { encoding: "utf8" });
  const [uid, gid] = [id("-u"), id("-g")];
  return uid.status === 0 && gid.status === 0
    ? { uid: Number(uid.stdout), gid: Number(gid.stdout) }
    : undefined;
}

describe("pglite", () => {
  describe("first contact", () => {
    it("a data directory under a regular file: names the directory", async () => {
      const file = path.join(tempDir(), "not-a-directory");
      writeFileSync(file, "x");
      const dataDir = path.join(file, "store");
      const error = await failure(openStore({ dataDir, env: {} }));
      expect(error.message).toContain(`cannot open the embedded database in ${dataDir}`);
      expect(error.message).toMatch(/not a directory/);
    });

    it("a data directory that is a regular file: names it", async () => {
      const dataDir = path.join(tempDir(), "a-file");
      writeFileSync(dataDir, "x");
      const error = await failure(openStore({ dataDir, env: {} }));
      expect(error.message).toContain(`cannot open the embedded database in ${dataDir}`);
      expect(error.message).toMatch(/not a directory/);
    });

    const user = unprivileged();
    it.skipIf(isRoot && !user)(
      "a data directory its user may not write to: names it (as an unprivileged user when root)",
      { timeout: 60_000 },
      async () => {
        const parent = tempDir();
        chmodSync(parent, 0o755);
        const readOnly = path.join(parent, "read-only");
        mkdirSync(readOnly);
        chmodSync(readOnly, 0o555);
        for (const dataDir of [readOnly, path.join(readOnly, "store")]) {
          const outcome = await openElsewhere(dataDir, user);
          expect(outcome, dataDir).toMatchObject({ ok: false, error: "ConnectionError" });
          expect(outcome.message, dataDir).toContain(`cannot open the embedded database in ${dataDir}`);
          expect(outcome.message, dataDir).toMatch(/permission denied/);
        }
      },
    );
  });
});
