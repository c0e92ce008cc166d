/**
 * Opening the embedded store in a data directory, whoever holds it: this process, another process
 * (through the socket it serves the store on), or nobody, when this process opens it. A holder that
 * is still opening PGlite, or closing, is waited for.
 *
 * This process holds one PGlite per data directory, however many stores are opened on it here. The
 * first opens the directory (taking its lock) and serves it to other processes on a unix socket
 * (pglite-socket.ts); every store gets a driver of its own on that PGlite, closed on its own; the last
 * to close stops serving, closes PGlite and lets the directory go.
 */

import path from "node:path";
import type { Logger } from "../core/logger.js";
import type { Driver, StatementLogging } from "./driver.js";
import { inUseError, liveHolder, markUnshared, type SocketAddress } from "./embedded-lock.js";
import { openEmbedded, PgliteDriver, type PgliteDriverOptions } from "./pglite.js";
import { type SharedEmbedded, shareEmbedded } from "./pglite-socket.js";
import type { NewDatabase } from "./template/template.js";

interface Holding {
  /** The driver that owns PGlite and the lock; never handed out. */
  owner: PgliteDriver;
  shared: SharedEmbedded | undefined;
  stores: number;
}

/** By resolved directory; a promise while the directory is being opened, so a second open waits for it. */
const holdings = new Map<string, Promise<Holding>>();
/** A directory whose last store is closing: opening it again waits until it is let go. */
const lettingGo = new Map<string, Promise<void>>();

/** A store's driver on PGlite this process holds: closing it closes this store only. */
class HeldDriver extends PgliteDriver {
  private released: Promise<void> | undefined;

  constructor(
    holding: Holding,
    options: PgliteDriverOptions,
    private readonly release: () => Promise<void>,
  ) {
    super(holding.owner.db, options);
  }

  override close(): Promise<void> {
    this.released ??= super.close().then(this.release);
    return this.released;
  }
}

/** True while this process holds (or is opening) the embedded store in `root`. */
function holdsEmbedded(root: string): boolean {
  return holdings.has(root);
}

/**
 * A driver on the embedded store in `root` (resolved), opening the directory if this process does not
 * hold it yet. Throws the lock's ConnectionError when another process holds it.
 */
async function holdEmbedded(
  root: string,
  statements: StatementLogging | undefined,
  logger: Logger,
  fresh: NewDatabase | undefined,
): Promise<PgliteDriver> {
  await lettingGo.get(root);
  let opening = holdings.get(root);
  if (!opening) {
    opening = openHolding(root, logger, fresh);
    holdings.set(root, opening);
    const mine = opening;
    mine.catch(() => {
      if (holdings.get(root) === mine) holdings.delete(root);
    });
  }
  const holding = await opening;
  holding.stores++;
  let released = false;
  return new HeldDriver(holding, { ownsDatabase: false, statements, location: root }, async () => {
    if (released) return;
    released = true;
    if (--holding.stores > 0) return;
    holdings.delete(root);
    const done = letGo(holding);
    lettingGo.set(root, done);
    await done.finally(() => lettingGo.delete(root));
  });
}

/** Opens the directory; a new database is made as `fresh` says (see template/template.ts). */
async function openHolding(root: string, logger: Logger, fresh: NewDatabase | undefined): Promise<Holding> {
  const owner = await openEmbedded(root, undefined, fresh);
  let shared: SharedEmbedded | undefined;
  try {
    shared = await shareEmbedded(owner);
  } catch (error) {
    // The store still opens; other processes are told why they cannot reach it (the lock says).
    const reason = (error as Error).message;
    markUnshared(root, reason);
    logger.warn(
      { dataDir: root, error: reason },
      "flowstore: cannot serve the embedded store to other processes",
    );
  }
  return { owner, shared, stores: 0 };
}

/** Stops serving first (a client's open transaction is rolled back), then closes PGlite and the lock. */
async function letGo(holding: Holding): Promise<void> {
  try {
    await holding.shared?.close();
  } finally {
    await holding.owner.close();
  }
}

/** How long a process waits for a holder that is opening (or closing) the store: PGlite takes seconds. */
export const HOLDER_WAIT_MS = 30_000;
const LOOK_AGAIN_MS = 50;

export type Reached = { held: PgliteDriver } | { through: SocketAddress & { pid: number } };

/** Where the store in `root` (resolved) can be used from this process now. */
export async function reachEmbedded(
  root: string,
  statements: StatementLogging | undefined,
  logger: Logger,
  fresh?: NewDatabase,
): Promise<Reached> {
  const started = Date.now();
  for (;;) {
    if (!holdsEmbedded(root)) {
      const holder = liveHolder(root);
      if (holder?.socket) return { through: { ...holder.socket, pid: holder.pid } };
      if (holder) {
        const waiting = holder.sharing === "starting" || holder.sharing === "closing";
        if (!waiting) throw inUseError(root, holder);
        if (Date.now() - started > HOLDER_WAIT_MS) throw inUseError(root, holder, HOLDER_WAIT_MS);
        await new Promise((resolve) => setTimeout(resolve, LOOK_AGAIN_MS));
        continue;
      }
    }
    try {
      return { held: await holdEmbedded(root, statements, logger, fresh) };
    } catch (error) {
      // Another process took the lock between our look and our open: look again, after a pause. The
      // failed open is all synchronous file calls and microtasks, so looking again at once would spin
      // without ever letting the event loop run (nor reap a holder that was this process's child).
      const holder = liveHolder(root);
      if (!holder || holdsEmbedded(root)) throw error;
      if (Date.now() - started > HOLDER_WAIT_MS) throw inUseError(root, holder, HOLDER_WAIT_MS);
      await new Promise((resolve) => setTimeout(resolve, LOOK_AGAIN_MS));
    }
  }
}

/**
 * The driver for the embedded store in `dir`: this process's own PGlite, or a connection through the
 * process that holds it, which carries on (taking the store over) when that process goes.
 */
export async function openEmbeddedStore(
  dir: string,
  statements: StatementLogging | undefined,
  logger: Logger,
  fresh?: NewDatabase,
): Promise<Driver> {
  const root = path.resolve(dir);
  const reached = await reachEmbedded(root, statements, logger, fresh);
  if ("held" in reached) return reached.held;
  // Loaded only here: a process that holds the store never needs node-postgres for it.
  const { SharedEmbeddedDriver } = await import("./embedded-client.js");
  return new SharedEmbeddedDriver(root, reached.through, logger, statements, () =>
    reachEmbedded(root, statements, logger, fresh),
  );
}
