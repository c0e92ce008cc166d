/**
 * A primary and its streaming standby given together, in one connection string, as libpq takes them:
 * the store settles on the host target_session_attrs asks for, and when the primary crashes and the
 * standby is promoted (pg_ctl promote), the same store, worker, timer dispatcher and LISTEN carry on
 * against the new primary, with no acknowledged write lost. Debian's PostgreSQL (CI installs it);
 * skipped with a note elsewhere, never in CI.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConnection } from "../../src/config/environment.js";
import { resolvePoolOptions } from "../../src/config/pool.js";
import { chooseHost } from "../../src/db/hosts.js";
import { ConnectionError, type Logger, openStore, type Store } from "../../src/index.js";
import { freePort } from "../../src/testing/postgres.js";
import { type SystemPostgres, startStandby, startSystemPostgres } from "../../src/testing/system-postgres.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";
import { systemPostgresFor } from "../support/system-postgres.js";
import { until, warningLogger } from "../support/waiting.js";

const available = systemPostgresFor("the failover tests");

/** A URL naming `ports` on loopback, in order, for `database`. */
const hostsUrl = (ports: number[], database: string, target?: string) =>
  `postgres://postgres@${ports.map((port) => `127.0.0.1:${port}`).join(",")}/${database}?sslmode=disable` +
  (target ? `&target_session_attrs=${target}` : "");

describe.skipIf(!available)("several hosts, a primary and its standby", () => {
  let primary: SystemPostgres;
  let standby: SystemPostgres;
  let database: string;
  let deadPort: number;
  const stores: Store[] = [];

  beforeAll(async () => {
    primary = await startSystemPostgres();
    database = new URL(await primary.createDatabase()).pathname.slice(1);
    standby = await startStandby(primary, { synchronous: true });
    deadPort = await freePort();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close().catch(() => {})));
    await standby?.stop();
    await primary?.stop();
  });

  const open = async (url: string, logger: Logger = warningLogger()) => {
    const store = await openStore({ connection: url, schema: uniqueSchema("hosts"), logger });
    stores.push(store);
    return store;
  };

  it("chooses the host each target_session_attrs asks for, in the order given", async () => {
    const pool = resolvePoolOptions({}, {});
    const chosen = async (ports: number[], target: string) => {
      const config = resolveConnection(hostsUrl(ports, database, target), {});
      if (!config) throw new Error("a URL always resolves");
      return (await chooseHost(config, pool)).port;
    };
    const [p, s, dead] = [primary.port, standby.port, deadPort];
    expect(await chosen([dead, s, p], "any")).toBe(s);
    expect(await chosen([s, p], "read-write")).toBe(p);
    expect(await chosen([s, p], "primary")).toBe(p);
    expect(await chosen([p, s], "read-only")).toBe(s);
    expect(await chosen([p, s], "standby")).toBe(s);
    expect(await chosen([p, dead, s], "prefer-standby")).toBe(s);
    expect(await chosen([dead, p], "prefer-standby")).toBe(p);
  });

  it("opens on the primary past a host that is down and a standby", async () => {
    const store = await open(hostsUrl([deadPort, standby.port, primary.port], database, "read-write"));
    await store.kv.set("hosts", "where", "the primary");
    const rows = await primary.query(`select count(*)::int as n from "${store.schema}".kv`, database);
    expect(rows[0]?.n).toBe(1);
  });

  it("says what each host answered when none suits, and writes nothing", async () => {
    const schema = uniqueSchema("none");
    const error = await openStore({
      connection: hostsUrl([deadPort, standby.port], database, "primary"),
      schema,
      logger: warningLogger(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/target_session_attrs=primary/);
    expect((error as Error).message).toContain(`127.0.0.1:${deadPort}: `);
    expect((error as Error).message).toMatch(new RegExp(`127\\.0\\.0\\.1:${standby.port}: a standby`));
    const rows = await primary.query(
      `select count(*)::int as n from pg_namespace where nspname = '${schema}'`,
      database,
    );
    expect(rows[0]?.n).toBe(0);
  });

  // Last: it leaves the standby as the only server.
  it("carries on through a crash of the primary and a promotion, losing nothing acknowledged", async () => {
    const logger = warningLogger();
    const store = await open(hostsUrl([primary.port, standby.port], database, "read-write"), logger);
    const runs = new Map<string, number>();
    const startedAt = new Map<string, number>();
    let releaseHeld!: () => void;
    const held = new Promise<void>((resolve) => {
      releaseHeld = resolve;
    });
    const worker = store.jobs.work({
      queue: "fo",
      concurrency: 8,
      // Longer than the failover takes: a completion that fails meanwhile is sent again, not lost.
      leaseMs: 10_000,
      keepCompleted: true,
      onError: () => {},
      handler: async (job) => {
        runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
        if (!startedAt.has(job.id)) startedAt.set(job.id, Date.now());
        // Held jobs are running when the primary crashes.
        if (job.name === "held") await held;
      },
    });
    const dispatcher = store.timers.startDispatcher({ pollIntervalMs: 200, onError: () => {} });

    // Writes go on through the crash; those that resolved are acknowledged and must all survive.
    const acknowledged: string[] = [];
    let lastCount = 0;
    let writing = true;
    let failures = 0;
    let afterPromotion = 0;
    let promoted = false;
    const writer = (async () => {
      for (let n = 1; writing; n++) {
        try {
          const [id] = await store.jobs.enqueue([{ queue: "fo", name: "write", payload: { n } }]);
          acknowledged.push(id as string);
          await store.kv.set("fo", "count", String(n));
          lastCount = n;
          if (promoted) afterPromotion++;
        } catch (error) {
          expect(error).toBeInstanceOf(ConnectionError);
          failures++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    })();

    const heldIds = await store.jobs.enqueue(
      Array.from({ length: 4 }, () => ({ queue: "fo", name: "held", payload: {} })),
    );
    const timer = await store.timers.schedule({
      name: "after-failover",
      fireAt: new Date(Date.now() + 3_000),
      queue: "fo",
    });
    await until(() => acknowledged.length >= 50 && heldIds.every((id) => runs.has(id)));

    await primary.crash();
    const crashedAt = Date.now();
    await standby.promote();
    const promotedAt = Date.now();
    promoted = true;
    // What the new primary holds as claimed and unfinished: the jobs in flight at the crash.
    const inFlight = (
      await standby.query(`select id from "${store.schema}".jobs where status = 'running'`, database)
    ).map((row) => row.id as string);
    releaseHeld();

    await until(() => afterPromotion >= 50, 30_000);
    writing = false;
    await writer;
    await until(
      async () =>
        acknowledged.every((id) => runs.has(id)) &&
        runs.has(timer.id) &&
        (await standby.query(`select 1 from "${store.schema}".jobs where queue = 'fo'`, database)).length ===
          0,
      30_000,
    );

    // The same worker ran what was enqueued after the promotion.
    const firstAfter = Math.min(...[...startedAt.values()].filter((at) => at > promotedAt));
    // LISTEN follows too: a worker that would poll only once a minute wakes for a new job at once.
    const woken: string[] = [];
    const late = store.jobs.work({
      queue: "fo-late",
      pollIntervalMs: 60_000,
      onError: () => {},
      handler: (job) => {
        woken.push(job.id);
      },
    });
    const [first] = await store.jobs.enqueue([{ queue: "fo-late", name: "first" }]);
    await until(() => woken.includes(first as string));
    const [second] = await store.jobs.enqueue([{ queue: "fo-late", name: "second" }]);
    await until(() => woken.includes(second as string));
    await late.stop();

    await worker.stop();
    await dispatcher.stop();
    const stored = await store.kv.get("fo", "count");
    const completed = await standby.query(
      `select count(*)::int as n from "${store.schema}".jobs_history where id = any('{${acknowledged.join(",")}}')`,
      database,
    );
    const twice = [...runs].filter(([, count]) => count > 1).map(([id]) => id);
    console.log(
      `failover: ${acknowledged.length} enqueues acknowledged (${failures} refused during the outage), ` +
        `${acknowledged.length - (completed[0]?.n as number)} lost; ${inFlight.length} jobs in flight ` +
        `at the crash, ${twice.length} run twice; promotion ${promotedAt - crashedAt} ms after the crash, ` +
        `first job ${firstAfter - promotedAt} ms after the promotion`,
    );
    expect(completed[0]?.n).toBe(acknowledged.length);
    expect(Number(new TextDecoder().decode(stored?.value))).toBeGreaterThanOrEqual(lastCount);
    for (const id of twice) expect(inFlight).toContain(id);
    // Held jobs finished while the store changed servers: their completions went through once it had.
    expect(twice).toEqual([]);
    expect(logger.warnings).toContain("flowstore: the server changed; connecting to the one chosen now");
  }, 120_000);
});

// A server that stops taking writes and takes them again under the same name (a demoted node promoted
// back, or a name moved to the new primary): the store's sessions opened meanwhile are read-only, and
// finding the same server again must not keep them.
describe("a server that stops taking writes, then takes them again", () => {
  it("writes again once it does, on fresh sessions", async () => {
    const url = await fileDatabaseUrl();
    const database = new URL(url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const store = await openStore({
      connection: `${url}${url.includes("?") ? "&" : "?"}target_session_attrs=read-write`,
      schema: uniqueSchema("demoted"),
      pool: { max: 2 },
      logger: warningLogger(),
    });
    const write = () =>
      store
        .transaction((tx) => tx.kv.set("demoted", "k", "v"))
        .then(
          () => "ok",
          (error: unknown) =>
            `${(error as Error).constructor.name} ${(error as { sqlState?: string }).sqlState}`,
        );
    try {
      expect(await write()).toBe("ok");
      await admin.query(`alter database "${database}" set default_transaction_read_only = on`);
      await admin.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
        [database],
      );
      // Sessions opened now are read-only: writes fail as an outage does, while the store looks.
      await until(async () => (await write()) === "ConnectionError 25006");
      // Both of the pool's sessions are read-only now.
      expect(await Promise.all([write(), write()])).toEqual([
        "ConnectionError 25006",
        "ConnectionError 25006",
      ]);
      await admin.query(`alter database "${database}" reset default_transaction_read_only`);
      await until(async () => (await write()) === "ok");
      for (let i = 0; i < 10; i++) expect(await write()).toBe("ok");
    } finally {
      await admin.query(`alter database "${database}" reset default_transaction_read_only`);
      await admin.end();
      await store.close();
    }
  }, 60_000);

  it("leaves a write refused in a read-only transaction of the caller's as it was, not an outage", async () => {
    const url = await fileDatabaseUrl();
    const store = await openStore({
      connection: `${url}${url.includes("?") ? "&" : "?"}target_session_attrs=read-write`,
      schema: uniqueSchema("readonlytx"),
      logger: warningLogger(),
    });
    try {
      const error = await store
        .transaction((tx) => tx.kv.set("ro", "k", "v"), { readOnly: true })
        .catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(ConnectionError);
      expect((error as { sqlState?: string }).sqlState).toBe("25006");
    } finally {
      await store.close();
    }
  });
});
