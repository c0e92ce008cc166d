/**
 * The dashboard's guards: who may bind where, the access token, the CSRF token, the Host and Origin
 * checks, and the headers every response carries.
 */

import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";

export const TOKEN_COOKIE = "flowstore_dashboard_token";
export const CSRF_HEADER = "x-csrf-token";

/** No inline script or style anywhere: the page loads /assets/app.js and /assets/app.css only. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

export function setSecurityHeaders(res: ServerResponse): void {
  res.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
  res.setHeader("Cache-Control", "no-store");
}

/** 127.0.0.0/8, ::1 and "localhost": only this machine can connect. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (bare === "localhost" || bare === "::1") return true;
  if (bare.startsWith("::ffff:")) return isLoopback(bare.slice(7));
  return isIP(bare) === 4 && bare.startsWith("127.");
}

/** Equal strings in a time that does not depend on where they differ. */
export function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) {
      try {
        return decodeURIComponent(part.slice(at + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function tokenCookie(token: string): string {
  return `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`;
}

export interface Guard {
  /** The access token, or undefined when the dashboard is open to whoever can reach it (loopback). */
  readonly token: string | undefined;
  /** Per process; embedded in the page, required in the X-CSRF-Token header of every POST. */
  readonly csrfToken: string;
  /** Host header values accepted; undefined accepts any (bound off loopback, where the token guards). */
  readonly allowedHosts: Set<string> | undefined;
}

export function createGuard(options: { host: string; port: number; token: string | undefined }): Guard {
  const { host, port, token } = options;
  // On loopback the Host header must name this machine: a page on another site that rebinds its DNS
  // name to 127.0.0.1 then sends its own name, and is refused before it can read anything.
  const allowedHosts = isLoopback(host)
    ? new Set(
        ["127.0.0.1", "localhost", "[::1]", host.includes(":") ? `[${host}]` : host].map((name) =>
          `${name}:${port}`.toLowerCase(),
        ),
      )
    : undefined;
  return { token, csrfToken: newSecret(), allowedHosts };
}

export function hostAllowed(guard: Guard, req: IncomingMessage): boolean {
  if (!guard.allowedHosts) return true;
  return guard.allowedHosts.has((req.headers.host ?? "").toLowerCase());
}

/** The token from `Authorization: Bearer`, or the cookie set by the login form. */
export function authenticated(guard: Guard, req: IncomingMessage): boolean {
  if (guard.token === undefined) return true;
  const header = req.headers.authorization;
  const bearer = header?.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
  return sameSecret(bearer, guard.token) || sameSecret(cookieValue(req, TOKEN_COOKIE), guard.token);
}

/**
 * A browser names the page a request comes from in Origin (and Sec-Fetch-Site); a POST from any
 * other site is refused even before the CSRF token is looked at. Clients that send neither (curl)
 * still need the CSRF token.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin !== undefined) {
    // https too: behind a TLS-terminating proxy the page's origin is https with the same Host.
    const host = (req.headers.host ?? "").toLowerCase();
    const given = origin.toLowerCase();
    return host !== "" && (given === `http://${host}` || given === `https://${host}`);
  }
  const site = req.headers["sec-fetch-site"];
  return site === undefined || site === "same-origin" || site === "none";
}

/** Everything a POST needs besides the access token. */
export function csrfOk(guard: Guard, req: IncomingMessage): boolean {
  const header = req.headers[CSRF_HEADER];
  return sameOrigin(req) && sameSecret(typeof header === "string" ? header : undefined, guard.csrfToken);
}
