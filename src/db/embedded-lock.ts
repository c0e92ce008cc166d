/**
 * The embedded store's lock file: one process at a time opens a data directory. The lock names its
 * holder (pid, host, command), is taken over when that process is gone, and advertises the unix socket
 * through which the holder serves the database to other processes (see pglite-socket.ts).
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
}

/** A unix socket (`path`, and the directory and port pg connects with) or a TCP port on 127.0.0.1. */
export interface SocketAddress {
  path?: string;
  host: string;
  port: number;
}

/** The socket a live process holding `dir` advertises, or undefined (free, dead holder, no socket). */
export function advertisedSocket(dir: string): (SocketAddress & { pid: number }) | undefined {
  const holder = readHolder(path.join(path.resolve(dir), "lock"));
  if (!holder?.socket || holder.host !== hostname() || !isAlive(holder)) return undefined;
  return { ...holder.socket, pid: holder.pid };
}

/** Records (or with undefined, withdraws) the socket in the lock file this process holds. */
export function advertiseSocket(dir: string, socket: SocketAddress | undefined): void {
  const lockPath = path.join(path.resolve(dir), "lock");
  const holder = readHolder(lockPath);
  if (holder?.pid !== process.pid) return;
  const { socket: _old, ...rest } = holder;
  // Written beside and renamed over, so a reader never sees half a file (and takes the lock for dead).
  const next = `${lockPath}.${process.pid}.tmp`;
  writeFileSync(next, JSON.stringify(socket ? { ...rest, socket } : rest));
  renameSync(next, lockPath);
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
      if (isAlive(holder)) {
        throw new ConnectionError(
          `the embedded store in ${path.dirname(lockPath)} is in use by process ${holder.pid}` +
            ` (${holder.command || "node"}, since ${holder.since}); stop it first, or set DATABASE_URL to use a PostgreSQL server`,
        );
      }
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
