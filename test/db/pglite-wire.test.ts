/**
 * The embedded store served on its socket to several clients at once: while one client is inside a
 * transaction, another's statements wait for it (they never run inside it), and a client that leaves
 * in the middle of a transaction is rolled back, after which the others go on.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, expect, it } from "vitest";
import { NotificationScanner } from "../../src/db/pglite-wire.js";
import { openStore } from "../../src/index.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function client(dataDir: string): pg.Client {
  return new pg.Client({ host: dataDir, port: 5432, user: "postgres", database: "postgres" });
}

it("keeps each client's transaction to itself, and rolls back one whose client left", {
  timeout: 60_000,
}, async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "fs-wire-"));
  dirs.push(dataDir);
  const store = await openStore({ dataDir, env: {} });
  const shared = await store.shareEmbedded();
  const a = client(dataDir);
  const b = client(dataDir);
  try {
    await a.connect();
    await b.connect();
    await a.query("create table wire_test (n int)");
    await a.query("begin");
    await a.query("insert into wire_test values (1)");
    // B's insert waits for A's transaction to end, so A sees only its own row.
    const late = b.query("insert into wire_test values (2)");
    expect((await a.query("select count(*)::int as n from wire_test")).rows[0].n).toBe(1);
    await a.query("commit");
    await late;
    expect((await b.query("select count(*)::int as n from wire_test")).rows[0].n).toBe(2);

    // A leaves in the middle of a transaction: its row goes, and B carries on.
    await a.query("begin");
    await a.query("insert into wire_test values (3)");
    const waiting = b.query("select count(*)::int as n from wire_test");
    await a.end();
    expect((await waiting).rows[0].n).toBe(2);
    expect((await store.query<{ n: number }>("select count(*)::int as n from wire_test")).rows[0]?.n).toBe(2);
  } finally {
    await b.end().catch(() => {});
    await shared.close();
    await store.close();
  }
});

/** A protocol message: its type, its length, its body. */
function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

it("finds a notification in a server's answer however the answer is cut into chunks", () => {
  const pid = Buffer.alloc(4);
  pid.writeInt32BE(42);
  const answer = Buffer.concat([
    message("C", Buffer.from("NOTIFY\0")),
    message("A", Buffer.concat([pid, Buffer.from('jobs_q\0{"n":1}\0')])),
    message("Z", Buffer.from("I")),
  ]);
  for (let cut = 0; cut <= answer.length; cut++) {
    for (let second = cut; second <= answer.length; second++) {
      const scanner = new NotificationScanner();
      scanner.push(answer.subarray(0, cut));
      scanner.push(answer.subarray(cut, second));
      scanner.push(answer.subarray(second));
      expect(scanner.found).toEqual([{ channel: "jobs_q", payload: '{"n":1}' }]);
    }
  }
});
