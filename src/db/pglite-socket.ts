/**
 * Sharing the embedded store with other processes. PGlite's data directory belongs to one process;
 * while that process holds it (any store opened on it: an application, a worker, a flowstore command)
 * it serves its PGlite on a local socket (pglite-wire.ts) and records the address in the lock file,
 * and other processes connect to it with node-postgres (embedded-client.ts) instead of opening the
 * directory a second time.
 *
 * PGlite has one session. The holder keeps using it directly, so a socket client's statements must
 * never land in the middle of the holder's transaction, nor the holder's in a client's: each client
 * message takes PGlite's transaction lock, and keeps it while the client is inside a transaction block
 * or an extended-protocol exchange that has not reached Sync (an unnamed statement Parsed by one side
 * would otherwise be replaced by the other's).
 */

import { existsSync, mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import type { Driver } from "./driver.js";
import { advertiseSocket, type SocketAddress } from "./embedded-lock.js";
import type { PgliteDriver } from "./pglite.js";
import { NotificationScanner, PgliteWireServer, type WireDatabase } from "./pglite-wire.js";

/** The port in the socket file's name (`.s.PGSQL.5432`), which is how pg finds a socket in a directory. */
const SOCKET_PORT = 5432;
/** sun_path holds 108 bytes on Linux, 104 on macOS. */
const MAX_SOCKET_PATH = 100;

export interface SharedEmbedded {
  readonly address: SocketAddress;
  /** Stops serving and withdraws the address from the lock file. */
  close(): Promise<void>;
}

/** Extended-protocol messages that leave the exchange open until a Sync ('S'). */
const UNSYNCED = new Set(["P", "B", "D", "E", "C", "H", "F", "d"]);

const LISTEN = /(^|;)\s*(un)?listen\b/i;

/**
 * A client's LISTEN or UNLISTEN would subscribe (or unsubscribe) the holder's own session, and its
 * notifications would go to whichever process's statement ran next. Such a statement (a simple query,
 * or a Parse) is replaced by one that fails with the reason, so the client gets an ordinary error
 * and its connection, and any transaction, go on as after any failed statement.
 */
function refuseListen(message: Uint8Array, dir: string): Uint8Array {
  const type = message[0];
  if (type !== 0x51 /* Q */ && type !== 0x50 /* P */) return message;
  const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  let at = 5;
  if (type === 0x50) at = bytes.indexOf(0, at) + 1; // past the statement's name
  const end = bytes.indexOf(0, at);
  if (!LISTEN.test(bytes.toString("utf8", at, end))) return message;
  const reason =
    `LISTEN and UNLISTEN do not reach this process: it uses the embedded store in ${dir} through the socket` +
    ` of process ${process.pid}, which holds it, and notifications go to that process's session (the` +
    " store's own wake-ups poll instead); use a PostgreSQL server (DATABASE_URL) for notifications";
  const sql = `do $flowstore$ begin raise exception using errcode = 'feature_not_supported', message = '${reason.replaceAll("'", "''")}'; end $flowstore$`;
  const replaced = Buffer.concat([bytes.subarray(0, at), Buffer.from(sql), bytes.subarray(end)]);
  replaced.writeInt32BE(replaced.length - 1, 1);
  return replaced;
}

/**
 * What the socket server sees of the database: PGlite, with each client message run under PGlite's
 * transaction lock, held across a client's transaction (see the top of the file).
 */
function guarded(db: PGlite, dir: string): WireDatabase {
  const internal = db as unknown as { _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T> };
  let release: (() => void) | undefined;
  let open = false;
  const acquire = () =>
    new Promise<() => void>((granted) => {
      void internal._runExclusiveTransaction(() => new Promise<void>((done) => granted(done)));
    });
  const settle = () => {
    if (release && !open && !db.isInTransaction()) {
      release();
      release = undefined;
    }
  };
  const guard = {
    get waitReady() {
      return db.waitReady;
    },
    // The socket server asks this to keep serving one client while it is inside a transaction.
    isInTransaction: () => release !== undefined,
    async runExclusive<T>(fn: () => Promise<T>): Promise<T> {
      release ??= await acquire();
      try {
        return await db.runExclusive(fn);
      } finally {
        settle();
      }
    },
    async execProtocolRawStream(message: Uint8Array, options: { onRawData: (data: Uint8Array) => void }) {
      // A startup message begins with its length (a zero byte), never with a type letter.
      const type = message[0] ? String.fromCharCode(message[0]) : "";
      open = UNSYNCED.has(type);
      // PGlite hands a client's answer over raw: a notification in it (the holder LISTENs, and the
      // client's transaction sent a NOTIFY) reaches the client's socket, never the holder's
      // listeners. Sent again from the holder's side, it wakes them (its workers, waits and tails).
      const notifications = new NotificationScanner();
      const answered = await db.execProtocolRawStream(refuseListen(message, dir), {
        ...options,
        onRawData: (data) => {
          notifications.push(data);
          options.onRawData(data);
        },
      });
      for (const { channel, payload } of notifications.found) {
        void db.query("select pg_notify($1, $2)", [channel, payload]).catch(() => {});
      }
      return answered;
    },
    // Called by the server when a client leaves mid-transaction: roll it back and free the lock.
    async exec(sql: string) {
      if (!release) return db.exec(sql);
      const text = Buffer.from(`${sql}\0`, "utf8");
      const message = Buffer.alloc(5 + text.length);
      message.write("Q", 0);
      message.writeInt32BE(4 + text.length, 1);
      text.copy(message, 5);
      try {
        await db.runExclusive(() => db.execProtocolRaw(message));
      } finally {
        open = false;
        settle();
      }
      return [];
    },
  };
  return guard;
}

/**
 * Serves the holder's embedded database to other processes on a unix socket: in the data directory, or
 * where that path would be too long for a socket, in a private (0700) temporary directory. Never on
 * TCP: PGlite asks for no password, and a socket's file permissions are what keep other users out.
 */
export async function shareEmbedded(driver: PgliteDriver): Promise<SharedEmbedded> {
  const dir = driver.location;
  if (!dir || dir === "memory") throw new Error("only an embedded store in a data directory can be shared");
  if (process.platform === "win32") throw new Error("sharing the embedded store needs unix sockets");
  let socketDir = dir;
  let privateDir: string | undefined;
  if (Buffer.byteLength(path.join(dir, `.s.PGSQL.${SOCKET_PORT}`)) > MAX_SOCKET_PATH) {
    privateDir = mkdtempSync(path.join(tmpdir(), "flowstore-"));
    socketDir = privateDir;
  }
  const socketPath = path.join(socketDir, `.s.PGSQL.${SOCKET_PORT}`);
  // A socket file left by a holder that died: we hold the lock now, so it is ours to remove.
  if (existsSync(socketPath)) unlinkSync(socketPath);
  const server = new PgliteWireServer(guarded(driver.db, dir), socketPath, 16);
  await server.start();
  const address: SocketAddress = { path: socketPath, host: socketDir, port: SOCKET_PORT };
  advertiseSocket(dir, address);
  // A process that exits without closing its store leaves no socket file behind (nor its lock).
  const removeFiles = () => {
    rmSync(socketPath, { force: true });
    if (privateDir) rmSync(privateDir, { recursive: true, force: true });
  };
  process.on("exit", removeFiles);
  let closed: Promise<void> | undefined;
  return {
    address,
    close() {
      closed ??= (async () => {
        advertiseSocket(dir, undefined);
        await server.stop();
        process.off("exit", removeFiles);
        removeFiles();
      })();
      return closed;
    },
  };
}

/**
 * What `store.shareEmbedded()` asks for. Every store that holds an embedded data directory already
 * serves it from the moment it opens (embedded-holder.ts), for as long as it is open, so there is
 * nothing more to start and nothing to stop early.
 */
export async function shareEmbeddedStore(_driver: Driver): Promise<{ close(): Promise<void> }> {
  return { close: async () => {} };
}
