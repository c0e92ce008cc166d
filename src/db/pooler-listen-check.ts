/**
 * Behind a pooler, LISTEN works in session pooling (the client keeps its server session) and hears
 * nothing in transaction pooling (the session that ran LISTEN goes back to the pool), and a client
 * cannot ask the pooler which it is. So the store listens on a channel of its own, sends itself a
 * notification through the pool, and says what to do only when it hears nothing.
 */

import { randomBytes } from "node:crypto";
import type { Logger } from "../core/logger.js";
import type { Driver } from "./driver.js";

/** How long the store waits to hear its own notification: far more than a round trip on any network. */
export const LISTEN_CHECK_MS = 3_000;

const UNHEARD =
  "flowstore: behind a pooler in transaction pooling, LISTEN receives no notifications: workers, " +
  "timers and events.wait then wake at their poll interval. Give listenConnection (a connection " +
  "straight to PostgreSQL, past the pooler) for wake-ups at once.";

const HEARD =
  "flowstore: behind a pooler, LISTEN hears notifications (session pooling): wake-ups come at once";

/** Runs the check in the background; a store closed meanwhile ends it without a word. */
export function checkListenBehindPooler(driver: Driver, logger: Logger, connection: string): void {
  void heardOwnNotification(driver).then(
    (heard) => {
      if (heard) logger.info({ connection }, HEARD);
      else logger.warn({ connection }, UNHEARD);
    },
    () => {},
  );
}

/** Whether a notification sent through the pool reaches the store's LISTEN; rejects if it closed. */
async function heardOwnNotification(driver: Driver): Promise<boolean> {
  const channel = `flowstore_listen_check_${randomBytes(8).toString("hex")}`;
  let heard = false;
  let wake = () => {};
  const unlisten = await driver.listen(channel, (payload) => {
    // An empty payload also comes when the LISTEN connection is made again after a loss: not ours.
    if (payload !== "heard") return;
    heard = true;
    wake();
  });
  try {
    await driver.query("select pg_notify($1, 'heard')", [channel]);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, LISTEN_CHECK_MS);
      timer.unref();
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  } finally {
    await unlisten().catch(() => {});
  }
  // A store closed while it waited has nothing to be told: this rejects, and nothing is said.
  if (!heard) await driver.ping();
  return heard;
}
