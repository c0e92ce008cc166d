/**
 * A server may end a connection on its own, with a FATAL error that answers no statement (the process
 * holding an embedded store says so as it closes it, pglite-wire.ts; a server shutting down too). The
 * connection's client then emits 'error', which crashes the process if nothing listens: whatever the
 * client is doing then, even passing from a finished statement to the checkout that waited for it, the
 * store's own pools hear it, and the calls on that connection fail instead.
 */
import { createServer, type Server, type Socket } from "node:net";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { NodePostgresDriver } from "../../src/db/node-postgres.js";

/** A PostgreSQL protocol message: its type, its length, its body. */
function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const READY = message("Z", Buffer.from("I"));
const AUTHENTICATED = message("R", Buffer.alloc(4));
const DONE = message("C", Buffer.from("SELECT 0\0"));
const ENDED = message("E", Buffer.from("SFATAL\0VFATAL\0C57P01\0Mthe server ends this connection\0\0"));

/**
 * A server that answers every simple query with no rows. The first connection's first answer comes
 * with a FATAL error after it, in the same packet, and the connection is closed.
 */
async function endingServer(): Promise<{ server: Server; port: number }> {
  let first = true;
  const server = createServer((socket: Socket) => {
    const ending = first;
    first = false;
    let started = false;
    let buffered = Buffer.alloc(0);
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (!started) {
          if (buffered.length < 4) return;
          const length = buffered.readInt32BE(0);
          if (buffered.length < length) return;
          buffered = buffered.subarray(length);
          started = true;
          socket.write(Buffer.concat([AUTHENTICATED, READY]));
          continue;
        }
        if (buffered.length < 5) return;
        const length = buffered.readInt32BE(1) + 1;
        if (buffered.length < length) return;
        const type = String.fromCharCode(buffered[0] as number);
        buffered = buffered.subarray(length);
        if (type !== "Q") continue;
        if (ending) {
          socket.end(Buffer.concat([DONE, READY, ENDED]));
          return;
        }
        socket.write(Buffer.concat([DONE, READY]));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe("a connection the server ends between statements", () => {
  it("crashes nothing when it is handed to a transaction that waited for it, which fails", async () => {
    const { server, port } = await endingServer();
    const uncaught: unknown[] = [];
    const listener = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", listener);
    const pool = new pg.Pool({ host: "127.0.0.1", port, user: "u", database: "d", max: 1 });
    const driver = new NodePostgresDriver(pool, {
      ownsPool: true,
      secrets: [],
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    try {
      // The query takes the one connection; the transaction waits for it, and gets it as the query's
      // answer lands, with the FATAL error right behind it.
      const query = driver.query("select 1");
      const transaction = driver.transaction((tx) => tx.query("select 2"));
      await expect(query).resolves.toEqual({ rows: [], rowCount: 0 });
      await expect(transaction).rejects.toThrow();
      // The next call opens a connection of its own.
      await expect(driver.query("select 3")).resolves.toEqual({ rows: [], rowCount: 0 });
    } finally {
      await driver.close();
      server.close();
      process.off("uncaughtException", listener);
    }
    expect(uncaught.map(String)).toEqual([]);
  });
});
