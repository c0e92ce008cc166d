/**
 * A store opened with `readOnly: true` writes nothing. The server refuses a write itself (the store's
 * statements run in read-only transactions); what would act outside the database first (an upload to
 * S3, a background loop that writes) is refused here, before it starts.
 */

import type { StoreContext } from "./context.js";
import { ReadOnlyError, sqlStateOf } from "./errors.js";

/** Refuses, before anything is sent, work that writes (or starts writing) on a read-only store. */
export function refuseOnReadOnly(context: Pick<StoreContext, "readOnly">, what: string): void {
  if (context.readOnly) throw readOnlyStoreError(what);
}

/** The error for `what`, which writes, on a read-only store; `cause` is the server's refusal, if any. */
export function readOnlyStoreError(what: string, cause?: unknown): ReadOnlyError {
  const said = cause instanceof Error ? ` (the server said: ${cause.message})` : "";
  return new ReadOnlyError(
    `${what} on a store opened with readOnly: true was refused: nothing was written${said}; ` +
      "to write, open a store without readOnly, on the primary",
    { cause },
  );
}

/** The server's SQLSTATE 25006 (a write in a read-only transaction, or on a standby), not yet explained. */
export function isReadOnlyRefusal(error: unknown): boolean {
  return !(error instanceof ReadOnlyError) && sqlStateOf(error) === "25006";
}
