/**
 * The LISTEN connection of the node-postgres driver: lost or never made, it is made again (with a
 * backoff) and subscribes every channel again, without unhandled rejections, until the store closes;
 * and it has TCP keepalive on, so a connection dropped without a word is noticed.
 *
 * Real server only: PGlite has no separate LISTEN connection to lose. Failures of the first connection
 * are made by a TCP relay in front of the real server (see `Relay`), since the server has no switch
 * that refuses one connection and then accepts the next.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { type Logger, openStore, type Store } from "../../src/index.js";
import { fileDatabaseUrl, forEachDriver, uniqueSchema } from "../support/harness.js";
import { unhandledDuring, until, warningLogger } from "../support/waiting.js";

let channelCounter = 0;
function uniqueChannel(): string {
  return `listen_test_${process.pid}_${++channelCounter}`;
}

/** A plain client on the file's database, beside the store: it sends NOTIFYs and looks at backends. */
let direct: pg.Client | undefined;
async function directClient(): Promise<pg.Client> {
  if (!direct) {
    direct = new pg.Client({ connectionString: await fileDatabaseUrl() });
    await direct.connect();
  }
  return direct;
}
afterAll(async () => {
  await direct?.end();
});

async function notify(channel: string, payload: string): Promise<void> {
  await (await directClient()).query("select pg_notify($1, $2)", [channel, payload]);
}

/**
 * NOTIFYs `channel` every 100 ms until `received` holds the payload sent: a notification sent before
 * the listener has subscribed again is lost, as it is for any LISTEN, so one NOTIFY would be a race.
 */
async function notifyUntilReceived(channel: string, received: string[], timeoutMs = 10_000): Promise<void> {
  const payload = `after-${Math.random().toString(36).slice(2)}`;
  const deadline = Date.now() + timeoutMs;
  while (!received.includes(payload)) {
    if (Date.now() > deadline) {
      throw new Error(
        `no notification on ${channel} within ${timeoutMs} ms (got ${JSON.stringify(received)})`,
      );
    }
    await notify(channel, payload);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The backends that last ran LISTEN on `channel` (the driver's listener connection). */
async function listenerBackends(channel: string): Promise<{ pid: number; client_port: number }[]> {
  const { rows } = await (await directClient()).query<{ pid: number; client_port: number }>(
    `select pid, client_port from pg_stat_activity where datname = current_database() and query = $1`,
    [`listen "${channel}"`],
  );
  return rows;
}

type Policy = "forward" | "refuse" | "drop-on-query";

/**
 * A TCP relay in front of the real server. Each connection it accepts follows the policy set when it
 * arrives: "forward" relays both ways; "refuse" closes it at once, before the startup message, as a
 * server that is restarting or a balancer with no backend does; "drop-on-query" relays the startup
 * and authentication, then cuts the connection when the client sends its first query (the LISTEN),
 * as a connection lost right after it was made.
 */
class Relay {
  policy: Policy = "forward";
  /** The policy each accepted connection got, in order. */
  readonly accepted: Policy[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(targetUrl: string): Promise<Relay> {
    const target = new URL(targetUrl);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = new URL(targetUrl);
    url.hostname = "127.0.0.1";
    url.port = String((server.address() as { port: number }).port);
    const relay = new Relay(server, url.toString());
    server.on("connection", (client) => relay.accept(client, target.hostname, Number(target.port || 5432)));
    return relay;
  }

  private accept(client: Socket, host: string, port: number): void {
    const policy = this.policy;
    this.accepted.push(policy);
    this.track(client);
    if (policy === "refuse") {
      client.destroy();
      return;
    }
    const server = this.track(tcpConnect(port, host));
    const cut = () => {
      client.destroy();
      server.destroy();
    };
    client.on("error", cut).on("close", cut);
    server.on("error", cut).on("close", cut);
    server.on("data", (chunk: Buffer) => client.write(chunk));
    // After startup every message the client sends starts with its type: 'Q' is a simple query.
    client.on("data", (chunk: Buffer) => {
      if (policy === "drop-on-query" && chunk[0] === 0x51) cut();
      else server.write(chunk);
    });
  }

  private track(socket: Socket): Socket {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    return socket;
  }

  count(policy: Policy): number {
    return this.accepted.filter((p) => p === policy).length;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** A store whose connections all go through `relay` (opened while the relay forwards). */
async function storeThrough(relay: Relay, logger: Logger): Promise<Store> {
  relay.policy = "forward";
  return openStore({ connection: relay.url, schema: uniqueSchema(), logger });
}

/** The TCP socket table of this machine (Linux), both families: local port, state, timer kind, when. */
function tcpSockets(): {
  localPort: number;
  remotePort: number;
  state: string;
  timer: string;
  when: number;
}[] {
  return ["/proc/net/tcp", "/proc/net/tcp6"]
    .filter((file) => existsSync(file))
    .flatMap((file) => readFileSync(file, "utf8").trim().split("\n").slice(1))
    .map((line) => {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when ...
      const [, local, remote, state, , timer] = line.trim().split(/\s+/) as string[];
      const [kind, when] = (timer as string).split(":") as [string, string];
      return {
        localPort: Number.parseInt((local as string).split(":")[1] as string, 16),
        remotePort: Number.parseInt((remote as string).split(":")[1] as string, 16),
        state: state as string,
        timer: kind,
        // In clock ticks (USER_HZ, 100 a second on Linux).
        when: Number.parseInt(when, 16),
      };
    });
}

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("LISTEN connection", () => {
    it("a second subscriber of a channel being subscribed hears what is sent once its listen resolves", async () => {
      const store = await driver.open();
      const channel = uniqueChannel();
      const heard: string[] = [];
      // The first makes the connection and subscribes; the second, meanwhile, finds the channel taken.
      const first = store.driver.listen(channel, () => {});
      await store.driver.listen(channel, (payload) => heard.push(payload));
      await notify(channel, "after");
      await first;
      // A NOTIFY committed after listen() resolved reaches the subscriber (one sent before is not owed).
      await until(() => heard.includes("after"), 5_000).catch(() => {
        throw new Error(`the second subscriber heard ${JSON.stringify(heard)}, not the NOTIFY sent after`);
      });
    });

    it("a listener whose backend is terminated reconnects and subscribes every channel again", async () => {
      const store = await driver.open();
      const [first, second] = [uniqueChannel(), uniqueChannel()];
      const received = { [first]: [] as string[], [second]: [] as string[] };
      const unhandled = await unhandledDuring(async () => {
        await store.driver.listen(first, (payload) => received[first]?.push(payload));
        await store.driver.listen(second, (payload) => received[second]?.push(payload));
        await notifyUntilReceived(first, received[first] as string[]);

        const before = await listenerBackends(second);
        expect(before).toHaveLength(1);
        const { rows } = await (await directClient()).query<{ terminated: boolean }>(
          `select pg_terminate_backend(pid) as terminated from pg_stat_activity
            where datname = current_database() and query ilike 'listen%' and pid = $1`,
          [before[0]?.pid],
        );
        expect(rows).toEqual([{ terminated: true }]);
        // The old backend is gone, and a new one has subscribed both channels again.
        await until(async () => (await listenerBackends(second)).every((b) => b.pid !== before[0]?.pid));
        await notifyUntilReceived(first, received[first] as string[]);
        await notifyUntilReceived(second, received[second] as string[]);
      });
      expect(unhandled).toEqual([]);
    });

    it("a listener whose first connection is refused keeps trying, then subscribes", async () => {
      const relay = await Relay.start(await fileDatabaseUrl());
      const logger = warningLogger();
      const store = await storeThrough(relay, logger);
      try {
        const [first, second] = [uniqueChannel(), uniqueChannel()];
        const received = { [first]: [] as string[], [second]: [] as string[] };
        const unhandled = await unhandledDuring(async () => {
          relay.policy = "refuse";
          // listen() still resolves, with a way to unsubscribe: the subscription stands, and LISTEN
          // follows once a connection can be made. (A worker meanwhile polls.)
          await store.driver.listen(first, (payload) => received[first]?.push(payload));
          await store.driver.listen(second, (payload) => received[second]?.push(payload));
          // It tries again, more than once, while the server is out of reach...
          await until(() => relay.count("refuse") >= 3);
          relay.policy = "forward";
          // ...and once it can connect, both channels deliver.
          await notifyUntilReceived(first, received[first] as string[]);
          await notifyUntilReceived(second, received[second] as string[]);
        });
        expect(unhandled).toEqual([]);
        expect(logger.warnings.some((message) => /LISTEN/.test(message))).toBe(true);
      } finally {
        await store.close();
        await relay.close();
      }
    });

    it("a listener whose connection drops as it subscribes connects again", async () => {
      const relay = await Relay.start(await fileDatabaseUrl());
      const store = await storeThrough(relay, warningLogger());
      try {
        const channel = uniqueChannel();
        const received: string[] = [];
        const unhandled = await unhandledDuring(async () => {
          relay.policy = "drop-on-query";
          await store.driver.listen(channel, (payload) => received.push(payload));
          await until(() => relay.count("drop-on-query") >= 2);
          relay.policy = "forward";
          await notifyUntilReceived(channel, received);
        });
        expect(unhandled).toEqual([]);
      } finally {
        await store.close();
        await relay.close();
      }
    });

    it("stops trying to connect when the store closes", async () => {
      const relay = await Relay.start(await fileDatabaseUrl());
      const store = await storeThrough(relay, warningLogger());
      try {
        const unhandled = await unhandledDuring(async () => {
          relay.policy = "refuse";
          await store.driver.listen(uniqueChannel(), () => {});
          await until(() => relay.count("refuse") >= 2);
          await store.close();
          const attempts = relay.accepted.length;
          // Longer than the backoff has grown to by now (100, 200, 400 ms...).
          await new Promise((resolve) => setTimeout(resolve, 1_500));
          expect(relay.accepted.length).toBe(attempts);
        });
        expect(unhandled).toEqual([]);
      } finally {
        await store.close();
        await relay.close();
      }
    });

    it("a worker started while LISTEN cannot connect is woken by NOTIFY once it can", async () => {
      const relay = await Relay.start(await fileDatabaseUrl());
      const store = await storeThrough(relay, warningLogger());
      let worker: ReturnType<Store["jobs"]["work"]> | undefined;
      try {
        const handled: string[] = [];
        relay.policy = "refuse";
        // Polling once a minute: within this test only a notification can wake it.
        worker = store.jobs.work({
          queue: "q",
          pollIntervalMs: 60_000,
          onError: () => {},
          handler: async (job) => {
            handled.push(job.id);
          },
        });
        await until(() => relay.count("refuse") >= 2);
        relay.policy = "forward";
        // Enqueue until a job runs: enqueues made before LISTEN is back wake nobody.
        const deadline = Date.now() + 10_000;
        while (handled.length === 0) {
          if (Date.now() > deadline) throw new Error("the worker was never woken");
          await store.jobs.enqueue({ queue: "q", name: "wake" });
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        await worker?.stop();
        await store.close();
        await relay.close();
      }
    });

    // Keepalive is a socket option nothing on the wire shows until the connection is idle for the
    // whole delay, so the check reads the kernel's socket table: a socket with SO_KEEPALIVE has its
    // keepalive timer armed ("tr" 2 in /proc/net/tcp), due within the delay. Linux only.
    it.skipIf(!existsSync("/proc/net/tcp"))("the listener's connection has TCP keepalive on", async () => {
      const store = await driver.open();
      const channel = uniqueChannel();
      await store.driver.listen(channel, () => {});
      const [backend] = await listenerBackends(channel);
      expect(backend?.client_port).toBeGreaterThan(0);
      const socket = tcpSockets().find((s) => s.localPort === backend?.client_port && s.state === "01");
      expect(socket, "the listener's socket in /proc/net/tcp").toBeDefined();
      expect(socket?.timer, "keepalive timer armed").toBe("02");
      // Due within the 10 s initial delay, not the system's default (two hours).
      expect(socket?.when).toBeLessThanOrEqual(10 * 100);
    });
  });
});
