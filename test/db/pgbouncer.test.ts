/**
 * A store behind PgBouncer (Debian's 1.18), in transaction and session pooling: it opens with no option,
 * runs its statements, and a worker drains a queue. Real server only.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectionError, openStore, type Store } from "../../src/index.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";
import { type PgBouncer, type PoolMode, pgBouncerMissing, startPgBouncer } from "../support/pgbouncer.js";
import { until } from "../support/waiting.js";

const text = (value: Uint8Array | undefined) => (value ? new TextDecoder().decode(value) : undefined);

const missing = pgBouncerMissing();
if (missing) console.warn(`skipping the PgBouncer tests: ${missing}`);

for (const mode of ["transaction", "session"] as PoolMode[]) {
  describe.skipIf(missing !== undefined)(`behind PgBouncer in ${mode} pooling`, () => {
    let bouncer: PgBouncer;
    const stores: Store[] = [];

    beforeAll(async () => {
      bouncer = await startPgBouncer(await fileDatabaseUrl(), mode);
    });

    afterAll(async () => {
      await Promise.all(stores.map((store) => store.close()));
      await bouncer?.stop();
    });

    const open = async () => {
      // Quiet: each store opened through the pooler says what it found there (tested below).
      const store = await openStore({
        connection: bouncer.url,
        schema: uniqueSchema("bouncer"),
        logger: quiet,
      });
      stores.push(store);
      return store;
    };

    it("opens with no option, migrates, and reads what it wrote", async () => {
      const store = await open();
      await store.kv.set("pool", "greeting", "hello, pooler");
      expect(text((await store.kv.get("pool", "greeting"))?.value)).toBe("hello, pooler");
      const [id] = await store.jobs.enqueue([{ queue: "once", name: "hello" }]);
      expect((await store.jobs.get(id as string)).status).toBe("waiting");
    });

    it("runs the same statements many times over pooled connections", async () => {
      const store = await open();
      // Each round's statements land on whichever server connection is free: a statement prepared on
      // one would be missing on another in transaction pooling.
      for (let round = 0; round < 5; round++) {
        await Promise.all(Array.from({ length: 20 }, (_, i) => store.kv.set("pool", `k${i}`, String(round))));
      }
      const values = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => text((await store.kv.get("pool", `k${i}`))?.value)),
      );
      expect(values).toEqual(Array.from({ length: 20 }, () => "4"));
    });

    it("drains a queue with a worker", async () => {
      const store = await open();
      const total = 300;
      await store.jobs.enqueue(
        Array.from({ length: total }, (_, i) => ({ queue: "pooled", name: "count", payload: { i } })),
      );
      const seen = new Set<number>();
      const worker = store.jobs.work({
        queue: "pooled",
        pollIntervalMs: 100,
        handler: async (job) => {
          seen.add((job.payload as { i: number }).i);
        },
      });
      const deadline = Date.now() + 20_000;
      while (seen.size < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await worker.stop();
      expect(seen.size).toBe(total);
      const [stats] = await store.jobs.stats("pooled");
      expect(stats?.waiting ?? 0).toBe(0);
    });
  });
}

describe.skipIf(missing !== undefined)("wake-ups behind PgBouncer in transaction pooling", () => {
  let bouncer: PgBouncer;
  const stores: Store[] = [];

  beforeAll(async () => {
    bouncer = await startPgBouncer(await fileDatabaseUrl(), "transaction");
  });

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await bouncer?.stop();
  });

  it("says once that LISTEN receives nothing there, naming listenConnection", async () => {
    const { logger, warnings } = recording();
    const store = await openStore({ connection: bouncer.url, schema: uniqueSchema("bouncer"), logger });
    stores.push(store);
    // It says so once it has listened and heard nothing of its own notification.
    await until(async () => warnings.some((w) => /listenConnection/.test(w)), 10_000);
    expect(warnings.filter((w) => /listenConnection/.test(w))).toHaveLength(1);
  });

  const wokenIn = async (ms: number, listenConnection?: string) => {
    const run = await wokenWithin(bouncer.url, ms, listenConnection ? { listenConnection } : {});
    stores.push(run.store);
    return run;
  };

  it("loses wake-ups without listenConnection: LISTEN through the pooler hears nothing", async () => {
    expect((await wokenIn(2_000)).woken).toBe(false);
  });

  it("wakes a worker with listenConnection past the pooler", async () => {
    expect((await wokenIn(10_000, await fileDatabaseUrl())).woken).toBe(true);
  });

  it("connects listenConnection without TLS to a server that has none when no sslmode is given (libpq's prefer)", async () => {
    const url = new URL(await fileDatabaseUrl());
    url.searchParams.delete("sslmode");
    expect((await wokenIn(10_000, url.toString())).woken).toBe(true);
  });
});

describe.skipIf(missing !== undefined)("wake-ups behind PgBouncer in session pooling", () => {
  let bouncer: PgBouncer;
  let store: Store | undefined;

  beforeAll(async () => {
    bouncer = await startPgBouncer(await fileDatabaseUrl(), "session");
  });

  afterAll(async () => {
    await store?.close();
    await bouncer?.stop();
  });

  it("wakes a worker through the pooler, and says nothing of listenConnection", async () => {
    const { logger, warnings, infos } = recording();
    const run = await wokenWithin(bouncer.url, 10_000, { logger });
    store = run.store;
    expect(run.woken).toBe(true);
    // Behind a pooler the store checks whether its LISTEN hears: in session pooling it does.
    await until(async () => infos.some((message) => /LISTEN hears/.test(message)), 10_000);
    expect(warnings.filter((w) => /listenConnection/.test(w))).toEqual([]);
  });
});

describe.skipIf(missing !== undefined)(
  "a pg.Pool of the user's behind PgBouncer in transaction pooling",
  () => {
    /**
     * With two server sessions: the store's prepared statement goes to one while a client holds the
     * other, then that client moves to the first (the only one free) and lets the other go, so the
     * store's next statement lands on a session that never saw it.
     */
    async function preparedAcrossSessions(preparedStatements: boolean | undefined): Promise<unknown> {
      const bouncer = await startPgBouncer(await fileDatabaseUrl(), "transaction", 2);
      const pool = new pg.Pool({ connectionString: bouncer.url, max: 1 });
      const holders = [
        new pg.Client({ connectionString: bouncer.url }),
        new pg.Client({ connectionString: bouncer.url }),
      ];
      try {
        const store = await openStore({
          connection: pool,
          schema: uniqueSchema("bouncer"),
          logger: quiet,
          ...(preparedStatements === undefined ? {} : { preparedStatements }),
        });
        const [first, second] = holders as [pg.Client, pg.Client];
        await first.connect();
        await second.connect();
        await first.query("begin");
        await first.query("select 1");
        await store.query("select $1::int as n", [1], { prepare: true });
        await second.query("begin");
        await second.query("select 1");
        await first.query("commit");
        try {
          return (await store.query<{ n: number }>("select $1::int as n", [2], { prepare: true })).rows[0]?.n;
        } catch (error) {
          return error;
        } finally {
          await second.query("commit");
          await store.close();
        }
      } finally {
        await Promise.all(holders.map((client) => client.end().catch(() => {})));
        await pool.end().catch(() => {});
        await bouncer.stop();
      }
    }

    it("fails a prepared statement whose session changed with a ConnectionError that names the setting", async () => {
      const outcome = await preparedAcrossSessions(undefined);
      expect(outcome).toBeInstanceOf(ConnectionError);
      expect((outcome as Error).message).toMatch(/preparedStatements: false/);
    });

    it("runs it with preparedStatements: false", async () => {
      expect(await preparedAcrossSessions(false)).toBe(2);
    });
  },
);

/** Whether a job enqueued once the worker listens starts before its poll, an hour away, would come. */
async function wokenWithin(
  connection: string,
  ms: number,
  options: { listenConnection?: string; logger?: typeof quiet } = {},
): Promise<{ woken: boolean; store: Store }> {
  const { listenConnection, logger = quiet } = options;
  const store = await openStore({
    connection,
    schema: uniqueSchema("bouncer"),
    logger,
    ...(listenConnection ? { listenConnection } : {}),
  });
  let ran = false;
  const worker = store.jobs.work({
    queue: "woken",
    pollIntervalMs: 3_600_000,
    handler: async () => {
      ran = true;
    },
  });
  try {
    // Past the pooler, its LISTEN shows on the server; through it, no session keeps it.
    if (listenConnection) await untilListening(listenConnection);
    // The claim the worker makes once it listens has found nothing by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await store.jobs.enqueue([{ queue: "woken", name: "wake" }]);
    const deadline = Date.now() + ms;
    while (!ran && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return { woken: ran, store };
  } finally {
    await worker.stop();
  }
}

/** Waits until some session of the database at `url` has run LISTEN. */
async function untilListening(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let tries = 0; tries < 200; tries++) {
      const { rows } = await client.query(
        "select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'listen%'",
      );
      if (rows[0].n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await client.end();
  }
}

const quiet = recording().logger;

/** A logger that keeps the warnings and the notices. */
function recording() {
  const warnings: string[] = [];
  const infos: string[] = [];
  const ignore = () => {};
  return {
    warnings,
    infos,
    logger: {
      debug: ignore,
      info: (_: Record<string, unknown>, message?: string) => {
        infos.push(message ?? "");
      },
      error: ignore,
      warn: (_: Record<string, unknown>, message?: string) => {
        warnings.push(message ?? "");
      },
    },
  };
}
