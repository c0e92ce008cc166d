/**
 * The LISTEN side of the node-postgres driver: one dedicated connection that subscribes channels and
 * hands notifications on, kept alive (TCP keepalive) and made again after a failure.
 */

import { inspect } from "node:util";
import pg from "pg";
import { StoreClosedError, toStoreError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { Unlisten } from "./driver.js";

/** What the listener needs of the driver's options. */
export interface ListenerOptions {
  /** Strings removed from every error message (the password). */
  readonly secrets: readonly string[];
  readonly logger: Logger;
}

/** Retries of the LISTEN connection wait this long at first, doubling up to the maximum. */
const LISTEN_RETRY_MIN_MS = 100;
const LISTEN_RETRY_MAX_MS = 5_000;
/**
 * TCP keepalive on the LISTEN connection, after this much silence: the connection is idle by nature,
 * and one that a firewall, a NAT or a dead server dropped without a word would otherwise look alive
 * for ever, while its notifications go nowhere.
 */
const LISTEN_KEEPALIVE_DELAY_MS = 10_000;

/**
 * One dedicated connection for LISTEN. When it cannot be made, or is lost, it is made again after a
 * backoff (100 ms doubling to 5 s) and subscribes every channel again, until the store closes or no
 * channel is left. Meanwhile notifications are missed, which is why workers poll as well.
 */
export class Listener {
  /** The client config holds the password: util.inspect never shows it. */
  [inspect.custom](): string {
    return "Listener { node-postgres }";
  }

  /** The connection, with every channel subscribed. */
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = LISTEN_RETRY_MIN_MS;
  /** True from a failure or a loss until a connection is made again (to log each outage once). */
  private down = false;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  /**
   * Each channel's first subscription, until it has been made (or has failed): a later subscriber of
   * the channel waits for it too, or it would read before the LISTEN and miss what is sent between.
   */
  private readonly subscribing = new Map<string, Promise<void>>();
  private closed = false;

  /**
   * `clientConfig`: how to connect, or how to find out at each connection (the server in use can
   * change: a failover).
   */
  constructor(
    private readonly clientConfig: pg.ClientConfig | (() => Promise<pg.ClientConfig>),
    private readonly options: ListenerOptions,
  ) {}

  /**
   * Connects again now, where the connection settings say at this moment: the server changed. The
   * connection in use, if any, goes; notifications are missed until the new one listens.
   */
  reconnect(): void {
    if (this.closed) return;
    const client = this.client;
    this.retryDelayMs = LISTEN_RETRY_MIN_MS;
    if (client) {
      this.lost(client, new Error("the server changed"));
      return;
    }
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.connect().catch((failure: unknown) => this.retryLater(failure));
    }
  }

  /**
   * Subscribes `onNotify`. Resolves once the channel is subscribed, or once the attempt has failed: the
   * subscription stands either way and takes effect when a retry connects, so the caller always gets
   * its way to unsubscribe.
   */
  async add(channel: string, onNotify: (payload: string) => void): Promise<Unlisten> {
    let set = this.handlers.get(channel);
    const fresh = set === undefined;
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(onNotify);
    if (fresh) {
      const subscribed: Promise<void> = this.subscribe(channel).finally(() => {
        if (this.subscribing.get(channel) === subscribed) this.subscribing.delete(channel);
      });
      this.subscribing.set(channel, subscribed);
      await subscribed;
    } else {
      await this.subscribing.get(channel);
    }
    return async () => {
      const current = this.handlers.get(channel);
      if (!current?.delete(onNotify) || current.size > 0) return;
      this.handlers.delete(channel);
      const client = this.client;
      if (this.handlers.size > 0) {
        await client?.query(`unlisten ${quoteChannel(channel)}`).catch(() => {});
        return;
      }
      // No channel left: the connection goes, or it would keep the process alive with nothing to hear.
      // The next subscription makes a new one.
      this.client = undefined;
      this.down = false;
      this.retryDelayMs = LISTEN_RETRY_MIN_MS;
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      await client?.end().catch(() => {});
    };
  }

  /** LISTEN on `channel`, connecting first if need be. Never rejects: a failure schedules a retry. */
  private async subscribe(channel: string): Promise<void> {
    let client: pg.Client | undefined;
    try {
      client = await this.connect();
      // A connection made just now has subscribed every channel, this one included; once more is harmless.
      if (this.handlers.has(channel)) await client.query(`listen ${quoteChannel(channel)}`);
    } catch (error) {
      // A connection that fails a LISTEN is not to be trusted: start over on a new one.
      if (client && this.client === client) this.lost(client, error as Error);
      else this.retryLater(error);
    }
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** A new connection that subscribes every channel; it becomes `client` only once all are subscribed. */
  private async open(): Promise<pg.Client> {
    const config =
      typeof this.clientConfig === "function"
        ? await this.clientConfig().catch((error: unknown) => {
            throw toStoreError(error, this.options.secrets);
          })
        : this.clientConfig;
    const client = new pg.Client({
      ...config,
      // The pool keeps its password out of sight (not enumerable), so the spread leaves it behind.
      password: config.password,
      keepAlive: true,
      keepAliveInitialDelayMillis: config.keepAliveInitialDelayMillis || LISTEN_KEEPALIVE_DELAY_MS,
    });
    client.on("notification", (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? "");
    });
    // Until it becomes `client`, a failure shows as the rejection below; after, these report the loss.
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client));
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`listen ${quoteChannel(channel)}`);
    } catch (error) {
      client.end().catch(() => {});
      throw toStoreError(error, this.options.secrets);
    }
    if (this.closed) {
      await client.end().catch(() => {});
      throw new StoreClosedError();
    }
    if (this.handlers.size === 0) {
      // Every channel went while it connected: nothing to keep it for (see add()).
      await client.end().catch(() => {});
      return client;
    }
    this.client = client;
    this.retryDelayMs = LISTEN_RETRY_MIN_MS;
    if (this.down) {
      this.down = false;
      this.options.logger.info({}, "flowstore: LISTEN connection restored");
      // Notifications sent while it was down are lost: an empty payload tells every subscriber to
      // look again now, rather than at its next poll (after a failover, the first look at the new server).
      for (const set of this.handlers.values()) for (const handler of set) handler("");
    }
    return client;
  }

  private lost(client: pg.Client, error?: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    if (this.closed) return;
    this.down = true;
    this.options.logger.warn(
      { error: error?.message ?? "the connection ended" },
      "flowstore: LISTEN connection lost; reconnecting",
    );
    this.retryLater();
  }

  /** Connects again after the current delay, which doubles (up to the maximum) until one succeeds. */
  private retryLater(error?: unknown): void {
    if (error !== undefined && !this.down && !this.closed) {
      this.down = true;
      this.options.logger.warn(
        { error: error instanceof Error ? error.message : String(error) },
        "flowstore: LISTEN connection failed; retrying with backoff (workers poll meanwhile)",
      );
    }
    if (this.closed || this.retryTimer || this.handlers.size === 0) return;
    const delayMs = this.retryDelayMs;
    this.retryDelayMs = Math.min(delayMs * 2, LISTEN_RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed || this.client || this.handlers.size === 0) return;
      this.connect().catch((failure: unknown) => this.retryLater(failure));
    }, delayMs);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}

/** Channel names are ours (derived from the validated schema name), but quote them all the same. */
function quoteChannel(channel: string): string {
  return `"${channel.replaceAll('"', '""')}"`;
}
