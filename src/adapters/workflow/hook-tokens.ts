/**
 * A hook's token as the signal token that holds it. The SDK lets a workflow choose any token, and
 * world-postgres keeps tokens of any length; a signal token, a unique key, is at most MAX_KEY_BYTES.
 * A longer token is held under a fixed-length digest of it, and its hook keeps the token itself (see
 * HookFields), so the World still reports and matches the whole token. A token that starts as a
 * digest does is digested too, so no token the caller chose can name another's hook.
 */

import { createHash } from "node:crypto";
import { MAX_KEY_BYTES } from "../../history/index.js";

const DIGESTED = "flowstore-sha256:";

export function signalToken(token: string): string {
  if (
    token.length <= MAX_KEY_BYTES &&
    !token.startsWith(DIGESTED) &&
    Buffer.byteLength(token) <= MAX_KEY_BYTES
  ) {
    return token;
  }
  // UTF-16 as JavaScript holds it, so that no two strings share a digest (UTF-8 would turn every lone
  // surrogate into the same replacement character).
  return `${DIGESTED}${createHash("sha256").update(token, "utf16le").digest("base64url")}`;
}
