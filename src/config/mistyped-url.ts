/**
 * A connection string that is no connection string, read as the URL it most likely meant: what the
 * error that refuses it suggests, with the password left out.
 */

import { editDistance } from "../core/input.js";

/**
 * The postgres:// URL that a connection string which is not key=value pairs (does not begin with
 * `keyword=`) most likely meant, its password shown as ***: one whose scheme's "://" lost a character
 * (`postgress//host/db`, `postgres:/host/db`), whose scheme is misspelt (`postgress://`, or
 * `postgres:host/db`), or which has none before `user@host`. Undefined for anything else: another
 * scheme (`mysql://`), a host and its port, a word that names no URL.
 */
export function meantUrl(text: string): string | undefined {
  if (/^[a-z_][a-z0-9_]*\s*=/i.test(text)) return undefined;
  const schemed = /^([a-z][a-z0-9+.-]*)(:\/{0,3}|\/{2,3})(.*)$/is.exec(text);
  if (schemed) {
    const [, scheme = "", separator = "", rest = ""] = schemed;
    const named = /^postgres(ql)?$/i.test(scheme);
    // "://" is a URL's own; any other run of ":" and "/" after a scheme-like word is one mistyped.
    const mistyped =
      separator === "://" ? nearPostgres(scheme) : separator.includes("/") || named || nearPostgres(scheme);
    if (mistyped) return withoutPassword(`${named ? scheme.toLowerCase() : "postgres"}://${rest}`);
    if (separator === "://") return undefined;
  }
  return /^[^\s=]*@/.test(text) ? withoutPassword(`postgres://${text}`) : undefined;
}

/** A scheme close enough to postgres or postgresql to be it mistyped (`postgress`, `posgres`, `postgre`). */
function nearPostgres(scheme: string): boolean {
  const word = scheme.toLowerCase();
  return editDistance(word, "postgres") <= 2 || editDistance(word, "postgresql") <= 2;
}

/**
 * A URL with its password shown as ***: what is between the authority's first ":" and its last "@"
 * (more than the password, never less, where a path holds an "@" too), and a `password=` parameter.
 */
function withoutPassword(url: string): string {
  const start = url.indexOf("://") + 3;
  const at = url.lastIndexOf("@");
  const colon = url.indexOf(":", start);
  const masked =
    at > start && colon > start && colon < at ? `${url.slice(0, colon)}:***${url.slice(at)}` : url;
  return masked.replace(/([?&]password=)[^&#]*/gi, "$1***");
}
