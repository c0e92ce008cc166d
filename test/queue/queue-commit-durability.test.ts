/**
 * A claim or a completion acknowledged to the worker survives a crash of the server by default: it
 * commits as durably as the server's synchronous_commit promises. Relaxed commits (the WAL flushed
 * later) are an opt-in, `queueCommits: "relaxed"`, and a crash can take back what they acknowledged.
 *
 * The server runs with durable settings (fsync on) and a WAL writer that waits 10 s between flushes,
 * so a commit that did not flush itself is still in memory when the server is killed. PostgreSQL only:
 * PGlite has no server to crash, and writes to its files after every statement.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store, ValidationError } from "../../src/index.js";
import type { TestPostgres } from "../../src/testing/postgres.js";
import { startOwnPostgres, uniqueSchema } from "../support/harness.js";

let server: TestPostgres;
beforeAll(async () => {
  server = await startOwnPostgres({ fast: false, settings: { wal_writer_delay: "10s" } });
}, 60_000);
afterAll(() => server?.stop());

const JOBS = 4;

/** Enqueues JOBS jobs, then claims and completes them one at a time; returns their ids. */
async function claimAndComplete(
  store: Store,
  queue: string,
): Promise<{ claimed: string[]; completed: string[] }> {
  const ids = (await store.jobs.enqueue(
    Array.from({ length: JOBS * 2 }, (_, i) => ({ queue, name: "work", payload: { i } })),
  )) as string[];
  const claimed: string[] = [];
  const completed: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    const [done] = await store.jobs.claim({ queue, workerId: "w1", limit: 1, leaseMs: 600_000 });
    if (!done) throw new Error("nothing to claim");
    await store.jobs.complete(done);
    completed.push(done.id);
    const [held] = await store.jobs.claim({ queue, workerId: "w1", limit: 1, leaseMs: 600_000 });
    if (!held) throw new Error("nothing to claim");
    claimed.push(held.id);
  }
  expect(new Set([...claimed, ...completed])).toEqual(new Set(ids));
  return { claimed, completed };
}

async function rowsAfterCrash(
  url: string,
  schema: string,
  ids: string[],
): Promise<Array<{ id: string; status: string }>> {
  const store = await openStore({ connection: url, schema, migrate: false });
  try {
    const { rows } = await store.query<{ id: string; status: string }>(
      `select id::text, status from "${schema}".jobs where id = any($1::uuid[]) order by id`,
      [ids],
    );
    return rows;
  } finally {
    await store.close();
  }
}

describe("postgres", () => {
  describe("queue commits through a server crash", () => {
    it("keeps every claim and completion acknowledged by default", async () => {
      const url = await server.createDatabase();
      const schema = uniqueSchema();
      const store = await openStore({ connection: url, schema });
      const { claimed, completed } = await claimAndComplete(store, "durable");
      await server.crash();
      await store.close().catch(() => {});
      const rows = await rowsAfterCrash(url, schema, [...claimed, ...completed]);
      // Completed jobs are gone for good; claimed ones are still running (no second claim can take them).
      expect(rows.filter((r) => completed.includes(r.id))).toEqual([]);
      expect(rows.map((r) => r.status)).toEqual(claimed.map(() => "running"));
    });

    it("refuses a commit mode it does not know before connecting", async () => {
      const schema = uniqueSchema();
      await expect(
        openStore({ connection: server.url, schema, queueCommits: "fast" as "relaxed" }),
      ).rejects.toBeInstanceOf(ValidationError);
      const store = await openStore({ connection: server.url, schema: "public", migrate: false });
      const { rows } = await store.query("select 1 from pg_namespace where nspname = $1", [schema]);
      await store.close();
      expect(rows).toEqual([]);
    });

    it("can lose what relaxed commits acknowledged, when asked for them", { timeout: 90_000 }, async () => {
      // The WAL writer flushes relaxed commits every wal_writer_delay (10 s here, its most): a crash
      // just after one of its rounds loses nothing, so the cycle is tried up to three times.
      const lostPerTry: number[] = [];
      while (lostPerTry.length < 3 && !lostPerTry.some((lost) => lost > 0)) {
        const url = await server.createDatabase();
        const schema = uniqueSchema();
        const store = await openStore({ connection: url, schema, queueCommits: "relaxed" });
        const { claimed, completed } = await claimAndComplete(store, "relaxed");
        await server.crash();
        await store.close().catch(() => {});
        const rows = await rowsAfterCrash(url, schema, [...claimed, ...completed]);
        // The enqueue committed durably; the claims and completions after it were still in memory.
        lostPerTry.push(rows.filter((r) => r.status === "waiting").length);
      }
      expect(
        lostPerTry.some((lost) => lost > 0),
        `jobs back to waiting per try: ${lostPerTry}`,
      ).toBe(true);
    });
  });
});
