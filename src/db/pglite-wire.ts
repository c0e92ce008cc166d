/**
 * PGlite served on a unix socket in PostgreSQL's wire protocol, for node-postgres in other processes
 * (see pglite-socket.ts, which guards the database this serves). PGlite takes protocol messages whole
 * and answers them (execProtocolRawStream), so serving it is framing: each client's bytes are cut into
 * messages, and the messages of every client run one at a time, in arrival order, except that while
 * one client holds the session (inside a transaction, or an extended-protocol exchange before its
 * Sync) only that client's messages run. A client that leaves while holding it is rolled back. The
 * server and its connections never keep the holder's process alive.
 */

import { createServer, type Server, type Socket } from "node:net";

/** What the server needs of the (guarded) database. */
export interface WireDatabase {
  readonly waitReady: Promise<void>;
  /** True while a client's transaction or unsynced exchange holds the session. */
  isInTransaction(): boolean;
  runExclusive<T>(fn: () => Promise<T>): Promise<T>;
  execProtocolRawStream(
    message: Uint8Array,
    options: { onRawData: (data: Uint8Array) => void },
  ): Promise<unknown>;
  exec(sql: string): Promise<unknown>;
}

/** The codes of the messages a client may send before its startup message (they carry no type byte). */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** How long stopping waits for a client's transaction under way to end. */
const DRAIN_MS = 5_000;

/** SQLSTATE admin_shutdown: a statement the server never ran, since its holder is closing the store. */
export const HOLDER_CLOSING = "57P01";

/** The ErrorResponse every client gets as the server stops. */
const CLOSING_ERROR = (() => {
  const fields = Buffer.from(
    `SFATAL\0VFATAL\0C${HOLDER_CLOSING}\0Mthe process holding the embedded store is closing it; this statement did not run\0\0`,
  );
  const head = Buffer.alloc(5);
  head.write("E", 0);
  head.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
})();

interface Client {
  socket: Socket;
  buffer: Buffer;
  /** Its startup message is through: what follows are typed messages. */
  started: boolean;
}

interface Queued {
  client: Client;
  message: Uint8Array;
}

export class PgliteWireServer {
  private server: Server | undefined;
  private readonly clients = new Set<Client>();
  private readonly queue: Queued[] = [];
  private running = false;
  /** The client that holds the session (see the top of the file). */
  private holder: Client | undefined;
  private stopping = false;

  constructor(
    private readonly db: WireDatabase,
    private readonly path: string,
    private readonly maxConnections: number,
  ) {}

  async start(): Promise<void> {
    await this.db.waitReady;
    const server = createServer((socket) => this.accept(socket));
    // Serving others never keeps the holder alive: an application that is done exits as it would
    // unshared, and whoever was connected takes the store over (embedded-client.ts).
    server.unref();
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.path, () => {
        server.off("error", reject);
        resolve();
      });
    });
  }

  /**
   * Stops accepting and lets what is under way finish: the message running, and the transaction (or
   * unsynced exchange) of the client holding the session, for up to DRAIN_MS; nothing else starts.
   * Then every client is told that the store is closing (HOLDER_CLOSING: what it sent and was not run
   * can run elsewhere) and dropped (one still in a transaction is rolled back), and PGlite can close.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const server = this.server;
    this.server = undefined;
    server?.close();
    const deadline = Date.now() + DRAIN_MS;
    while ((this.running || this.holder) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Each leaves now, not at its socket's close event: one inside a transaction is rolled back (and
    // lets go of PGlite) before the holder closes it.
    const leaving = [...this.clients].map((client) => {
      // As PostgreSQL does at a shutdown: a FATAL admin_shutdown to each, idle or not. A statement
      // sent meanwhile, never run, gets it as its answer, and the client knows it may run it again.
      if (client.socket.writable) client.socket.end(CLOSING_ERROR);
      return this.leave(client);
    });
    await Promise.all(leaving);
    while (this.running) await new Promise((resolve) => setImmediate(resolve));
  }

  private accept(socket: Socket): void {
    if (this.clients.size >= this.maxConnections) {
      socket.end();
      return;
    }
    const client: Client = { socket, buffer: Buffer.alloc(0), started: false };
    this.clients.add(client);
    socket.setNoDelay(true);
    socket.unref();
    socket.on("data", (data) => {
      client.buffer = Buffer.concat([client.buffer, data]);
      this.frame(client);
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => void this.leave(client));
  }

  /** Cuts the client's complete messages off its buffer and queues them. */
  private frame(client: Client): void {
    for (;;) {
      const { buffer } = client;
      if (!client.started) {
        if (buffer.length < 8) return;
        const length = buffer.readInt32BE(0);
        if (buffer.length < length) return;
        const code = buffer.readInt32BE(4);
        client.buffer = buffer.subarray(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          client.socket.write("N"); // no encryption on a local socket: the client goes on in the clear
          continue;
        }
        if (code === CANCEL_REQUEST) {
          client.socket.end(); // PGlite cannot cancel a statement
          return;
        }
        client.started = true;
        this.enqueue(client, buffer.subarray(0, length));
        continue;
      }
      if (buffer.length < 5) return;
      const length = 1 + buffer.readInt32BE(1);
      if (buffer.length < length) return;
      client.buffer = buffer.subarray(length);
      this.enqueue(client, buffer.subarray(0, length));
    }
  }

  private enqueue(client: Client, message: Buffer): void {
    this.queue.push({ client, message: new Uint8Array(message) });
    void this.run();
  }

  /** Runs queued messages one at a time; while a client holds the session, only its own. */
  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        const at = this.holder
          ? this.queue.findIndex((q) => q.client === this.holder)
          : this.stopping
            ? -1
            : 0;
        const next = at >= 0 ? this.queue.splice(at, 1)[0] : undefined;
        if (!next) return;
        const { client, message } = next;
        if (!this.clients.has(client)) continue;
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(message, {
              // A copy: the bytes are a view of PGlite's memory, which its next message reuses, and a
              // socket write may go out later.
              onRawData: (data) => {
                if (data.length > 0 && client.socket.writable) client.socket.write(Buffer.from(data));
              },
            }),
          );
        } catch {
          client.socket.destroy();
        }
        this.holder = this.db.isInTransaction() ? client : undefined;
      }
    } finally {
      this.running = false;
    }
  }

  /** A client left: its queued messages go, and if it held the session, its transaction rolls back. */
  private async leave(client: Client): Promise<void> {
    if (!this.clients.delete(client)) return;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i]?.client === client) this.queue.splice(i, 1);
    }
    if (this.holder !== client) return;
    // Not while a message of its is still running: the run loop sets the holder after each message.
    while (this.running) await new Promise((resolve) => setImmediate(resolve));
    if (this.holder === client) {
      await this.db.exec("ROLLBACK").catch(() => {});
      this.holder = undefined;
    }
    void this.run();
  }
}

/** A NOTIFY as the server sends it to a listening session (a NotificationResponse message). */
export interface Notification {
  channel: string;
  payload: string;
}

/**
 * Picks the NotificationResponse messages ('A') out of the server's answer to one message, which
 * comes whole but possibly in several chunks; a message may be cut anywhere between two of them.
 */
export class NotificationScanner {
  readonly found: Notification[] = [];
  private header = Buffer.alloc(0);
  /** Bytes of the current message's body still to come. */
  private left = 0;
  /** The current message's body, kept only for a notification. */
  private body: Buffer[] | undefined;

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.left === 0) {
        const take = Math.min(5 - this.header.length, chunk.length - at);
        this.header = Buffer.concat([this.header, chunk.subarray(at, at + take)]);
        at += take;
        if (this.header.length < 5) return;
        this.left = this.header.readInt32BE(1) - 4;
        this.body = this.header[0] === 0x41 ? [] : undefined;
        this.header = Buffer.alloc(0);
        if (this.left === 0) this.end();
        continue;
      }
      const take = Math.min(this.left, chunk.length - at);
      // A copy: the chunk is a view of PGlite's memory, which its next message reuses.
      this.body?.push(Buffer.from(chunk.subarray(at, at + take)));
      at += take;
      this.left -= take;
      if (this.left === 0) this.end();
    }
  }

  private end(): void {
    if (this.body) {
      // The sending backend's pid (4 bytes), then the channel and the payload, each ending in a zero.
      const body = Buffer.concat(this.body);
      const channelEnd = body.indexOf(0, 4);
      const payloadEnd = body.indexOf(0, channelEnd + 1);
      this.found.push({
        channel: body.toString("utf8", 4, channelEnd),
        payload: body.toString("utf8", channelEnd + 1, payloadEnd),
      });
    }
    this.body = undefined;
  }
}
