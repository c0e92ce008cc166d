/**
 * The embedded store's lock file: one process at a time opens a data directory. The lock names its
 * holder (pid, host, command), is taken over when that process is gone, and advertises the unix socket
 * through which the holder serves the database to other processes (see pglite-socket.ts), or says
 * that it is about to (`sharing: "starting"`), is closing, or why it cannot.
 */

import { randomUUID } from "node:crypto";
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { ConnectionError } from "../core/errors.js";

interface LockHolder {
  pid: number;
  host: string;
  command: string;
  since: string;
  /** Tells two locks of one process apart. */
  nonce?: string;
  /** Where the holder serves the database to other processes, if it does (see pglite-socket.ts). */
  socket?: SocketAddress;
  /**
   * Absent in a lock of a flowstore that never serves its store. "starting" until the socket is
   * advertised (opening PGlite takes seconds), "closing" once it is withdrawn, "unavailable" (with
   * `unshared`, the reason) when the holder could not serve it.
   */
  sharing?: "starting" | "serving" | "closing" | "unavailable";
  unshared?: string;
}

/** The live process holding a data directory, as its lock file describes it. */
export type EmbeddedHolder = Omit<LockHolder, "nonce">;

/** A unix socket (`path`, and the directory and port pg connects with) or a TCP port on 127.0.0.1. */
export interface SocketAddress {
  path?: string;
  host: string;
  port: number;
}

/**
 * The live process on this machine that holds `dir`, or undefined when it is free (no lock, or the
 * lock of a process that died). A holder on another machine (a shared file system) cannot be reached
 * through a unix socket: it shows without one.
 */
export function liveHolder(dir: string): EmbeddedHolder | undefined {
  const holder = readHolder(path.join(path.resolve(dir), "lock"));
  if (!holder || !isAlive(holder)) return undefined;
  const { nonce: _nonce, ...rest } = holder;
  return holder.host === hostname() ? rest : { ...rest, socket: undefined, sharing: undefined };
}

/** The socket a live process holding `dir` advertises, or undefined (free, dead holder, no socket). */
export function advertisedSocket(dir: string): (SocketAddress & { pid: number }) | undefined {
  const holder = liveHolder(dir);
  return holder?.socket && { ...holder.socket, pid: holder.pid };
}

/**
 * Records the socket in the lock file this process holds (sharing "serving"); undefined withdraws it
 * (sharing "closing", so that a process looking for it waits for the lock to go rather than give up).
 */
export function advertiseSocket(dir: string, socket: SocketAddress | undefined): void {
  rewriteOwnLock(dir, (rest) =>
    socket ? { ...rest, socket, sharing: "serving" } : { ...rest, sharing: "closing" },
  );
}

/** Says in the lock file this process holds why it does not serve the store to other processes. */
export function markUnshared(dir: string, reason: string): void {
  rewriteOwnLock(dir, (rest) => ({ ...rest, sharing: "unavailable", unshared: reason }));
}

function rewriteOwnLock(dir: string, change: (holder: LockHolder) => LockHolder): void {
  const lockPath = path.join(path.resolve(dir), "lock");
  const holder = readHolder(lockPath);
  if (holder?.pid !== process.pid) return;
  const { socket: _old, unshared: _why, ...rest } = holder;
  // Written beside and renamed over, so a reader never sees half a file (and takes the lock for dead).
  const next = `${lockPath}.${process.pid}.tmp`;
  writeFileSync(next, JSON.stringify(change(rest)));
  renameSync(next, lockPath);
}

/**
 * The error for a store held by a process that cannot be gone through: it does not serve it (an
 * older flowstore, another machine, no unix sockets), could not, or did not begin to in time.
 */
export function inUseError(dir: string, holder: EmbeddedHolder, waitedMs?: number): ConnectionError {
  const why =
    holder.host !== hostname()
      ? `, on ${holder.host}: a store is shared only between processes of one machine`
      : holder.sharing === "unavailable"
        ? `, which cannot serve it to other processes (${holder.unshared})`
        : holder.sharing === undefined
          ? ", which does not serve it to other processes (a flowstore older than this one)"
          : waitedMs !== undefined
            ? `, which did not begin to serve it to other processes within ${waitedMs / 1000} s`
            : "";
  return new ConnectionError(
    `the embedded store in ${path.resolve(dir)} is in use by process ${holder.pid}` +
      ` (${holder.command || "node"}, since ${holder.since})${why}; stop it first, or set DATABASE_URL to use a PostgreSQL server`,
  );
}

/**
 * Takes the lock file, atomically: the holder's details are written to a file of our own first and
 * then hard-linked to the lock path, which fails if the lock exists, so no reader ever sees an empty
 * lock. A lock whose holder died is moved aside by rename (only one process's rename can take it); a
 * process that finds it moved a live lock by mistake puts it back.
 */
export function acquireLock(lockPath: string): () => void {
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    command: process.argv.slice(1).join(" "),
    since: new Date().toISOString(),
    nonce: randomUUID(),
    // Every holder serves its store on a unix socket once PGlite is open (see embedded-holder.ts).
    ...(process.platform === "win32"
      ? { sharing: "unavailable", unshared: "this platform has no unix sockets" }
      : { sharing: "starting" }),
  };
  const mine = `${lockPath}.${me.nonce}`;
  writeFileSync(mine, JSON.stringify(me));
  try {
    for (let tries = 0; tries < 20; tries++) {
      try {
        linkSync(mine, lockPath);
        return releaser(lockPath, me);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const holder = readHolder(lockPath);
      if (!holder) {
        // Vanished or unreadable (a lock from an older version): look again shortly, never assume dead.
        sleepSync(50);
        continue;
      }
      if (isAlive(holder)) throw inUseError(path.dirname(lockPath), holder);
      // Left behind by a process that died: move it aside, and check that what moved is that lock.
      const aside = `${lockPath}.stale.${me.nonce}`;
      try {
        renameSync(lockPath, aside);
      } catch {
        continue; // another process moved it first
      }
      const moved = readHolder(aside);
      if (moved && !sameHolder(moved, holder) && isAlive(moved)) {
        // A live process took the lock between our read and our rename: give it back.
        try {
          linkSync(aside, lockPath);
        } catch {}
      }
      try {
        unlinkSync(aside);
      } catch {}
    }
    throw new ConnectionError(
      `cannot lock the embedded store: ${lockPath} exists but cannot be read; if no process uses the store, delete it`,
    );
  } finally {
    try {
      unlinkSync(mine);
    } catch {}
  }
}

function releaser(lockPath: string, me: LockHolder): () => void {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off("exit", release);
    const holder = readHolder(lockPath);
    if (holder && sameHolder(holder, me)) {
      try {
        unlinkSync(lockPath);
      } catch {}
    }
  };
  process.on("exit", release);
  return release;
}

function sameHolder(a: LockHolder, b: LockHolder): boolean {
  return a.pid === b.pid && a.host === b.host && a.since === b.since && a.nonce === b.nonce;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readHolder(lockPath: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(lockPath, "utf8")) as LockHolder;
  } catch {
    return undefined;
  }
}

function isAlive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true; // cannot check another machine's process: assume it lives
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
