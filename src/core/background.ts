/**
 * What a store runs until told to stop: workers, timer dispatchers, maintenance, the socket that shares
 * an embedded store. close() stops each of them (a worker lets its running handlers finish, up to its
 * stop timeout, and hands its prefetched jobs back) before it closes the connection: a loop left running
 * would send its next statement to a closed store, and the error would surface where nobody catches it.
 * Kept per driver, the one object a store and its transactions share, so a loop started through either
 * is found.
 */

import type { Driver } from "../db/driver.js";
import { StoreClosedError } from "./errors.js";

export interface Stoppable {
  stop(): Promise<void>;
}

export class Background {
  private closing = false;
  private readonly running = new Set<Stoppable>();

  /** Throws once the store is closing: something started then would outlive the store. */
  checkOpen(): void {
    if (this.closing) throw new StoreClosedError();
  }

  /** Keeps `loop` for close() until the returned function says it has stopped (by itself or when told). */
  add(loop: Stoppable): () => void {
    this.running.add(loop);
    return () => {
      this.running.delete(loop);
    };
  }

  /**
   * Stops everything running, what starts meanwhile included, and refuses anything new. Never
   * rejects: a stop that fails is reported, and the store closes all the same.
   */
  async stopAll(onError: (error: unknown) => void): Promise<void> {
    this.closing = true;
    while (this.running.size) {
      const loops = [...this.running];
      const results = await Promise.allSettled(loops.map((loop) => loop.stop()));
      for (const loop of loops) this.running.delete(loop);
      for (const result of results) if (result.status === "rejected") onError(result.reason);
    }
  }
}

const byDriver = new WeakMap<Driver, Background>();

/** The background of the store that owns `driver`. */
export function backgroundOf(driver: Driver): Background {
  let background = byDriver.get(driver);
  if (!background) {
    background = new Background();
    byDriver.set(driver, background);
  }
  return background;
}

/**
 * Starts a loop the store's close() stops: `pass` runs again after the milliseconds it returns (0: at
 * once) until stop() is called or `signal` aborts; it must not throw. A signal that has already fired
 * starts nothing. Its sleep keeps the process alive, as a worker does, until stopped.
 */
export function startBackgroundLoop(
  driver: Driver,
  pass: () => Promise<number>,
  signal?: AbortSignal,
): Stoppable {
  const background = backgroundOf(driver);
  background.checkOpen();
  let stopping = signal?.aborted === true;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!stopping) {
      const sleepMs = await pass();
      if (stopping || sleepMs <= 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, sleepMs);
        wake = () => {
          // Cleared, not left to fire: it keeps the process alive until it does.
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  const onAbort = () => void stop();
  const stop = async () => {
    stopping = true;
    // Left on a long-lived signal, the listener would keep this loop reachable after it stopped.
    signal?.removeEventListener("abort", onAbort);
    wake?.();
    await loop;
  };
  if (!stopping) signal?.addEventListener("abort", onAbort, { once: true });
  void loop.then(background.add({ stop }));
  return { stop };
}
