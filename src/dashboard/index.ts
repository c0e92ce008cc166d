/**
 * The web dashboard served by `flowstore serve`: node:http only, a hand-written page and script, and
 * a JSON API under /api (routes.ts lists them). Binds to 127.0.0.1 unless told otherwise; any other
 * address requires an access token. On a read-only store (`readOnly: true`, `flowstore serve
 * --read-only`) it shows everything and its actions answer 403.
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  ConflictError,
  consoleLogger,
  type Logger,
  NotFoundError,
  type Store,
  StoreError,
  ValidationError,
} from "../index.js";
import { CLIENT_JS } from "./assets/client.js";
import { loginPage, messagePage } from "./assets/page.js";
import { STYLE_CSS } from "./assets/style.js";
import { DashboardData } from "./data.js";
import { HttpError, readBody, redirect, send, sendHtml, sendJson, wantsJson } from "./http.js";
import { match } from "./routes.js";
import { Sampler } from "./sampler.js";
import {
  authenticated,
  createGuard,
  csrfOk,
  type Guard,
  hostAllowed,
  isLoopback,
  sameOrigin,
  sameSecret,
  setSecurityHeaders,
  tokenCookie,
} from "./security.js";

export { type RunOrigin, runOrigin, runSteps, type StepView } from "./run-record.js";

export const DEFAULT_DASHBOARD_HOST = "127.0.0.1";
export const DEFAULT_DASHBOARD_PORT = 4545;

export interface DashboardOptions {
  /** Default 127.0.0.1. Any address other than loopback requires a token. */
  host?: string;
  /** Default 4545; 0 picks a free port (see the returned url). */
  port?: number;
  /**
   * The access token (default: FLOWSTORE_DASHBOARD_TOKEN). When set, every request but the stylesheet,
   * script and login form needs it, as `Authorization: Bearer <token>` or through the login form's cookie.
   */
  token?: string;
  logger?: Logger;
  /** How often queue depth and throughput are sampled for the overview's chart (default 3000 ms). */
  sampleIntervalMs?: number;
  /**
   * Sampling runs only while the overview is looked at: it stops after this long without a request for
   * it (default 60 000 ms), and the next such request starts it again with a fresh sample.
   */
  sampleIdleMs?: number;
  /** How much history the chart keeps (default 15 minutes). */
  historyMs?: number;
  /** The environment to read FLOWSTORE_DASHBOARD_TOKEN from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * How the engine runs a run that failed, was cancelled or timed out again, where it can: given the
   * run's id, it starts the replay and returns the new run's id. With it the run page offers Replay.
   */
  replay?: (executionId: string) => Promise<string>;
}

export interface Dashboard {
  /** Where it listens, e.g. http://127.0.0.1:4545/ */
  url: string;
  close(): Promise<void>;
}

export async function serveDashboard(store: Store, options: DashboardOptions = {}): Promise<Dashboard> {
  const env = options.env ?? process.env;
  const host = options.host ?? DEFAULT_DASHBOARD_HOST;
  const requestedPort = options.port ?? DEFAULT_DASHBOARD_PORT;
  const logger = options.logger ?? consoleLogger("warn");
  const token = options.token ?? (env.FLOWSTORE_DASHBOARD_TOKEN || undefined);
  if (token !== undefined && token.trim() === "") {
    throw new ValidationError("the dashboard token must not be empty", { field: "token" });
  }
  if (!isLoopback(host) && token === undefined) {
    throw new ValidationError(
      `refusing to serve the dashboard on ${host}, which is reachable from other machines, without a token: ` +
        "pass --token (or set FLOWSTORE_DASHBOARD_TOKEN), or bind to 127.0.0.1",
      { field: "host" },
    );
  }
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65_535) {
    throw new ValidationError(`port must be an integer from 0 to 65535, got ${requestedPort}`, {
      field: "port",
    });
  }
  const intervalMs = options.sampleIntervalMs ?? 3_000;
  const idleMs = options.sampleIdleMs ?? 60_000;
  if (!Number.isFinite(idleMs) || idleMs < 0) {
    throw new ValidationError("sampleIdleMs must be a number of milliseconds, 0 or more", {
      field: "sampleIdleMs",
    });
  }
  const sampler = new Sampler(
    store,
    logger,
    intervalMs,
    Math.max(2, Math.ceil((options.historyMs ?? 15 * 60_000) / intervalMs)),
    idleMs,
  );
  const data = new DashboardData(store, sampler, options.replay);

  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new StoreError(
          `cannot serve the dashboard on ${host}:${requestedPort}: ${error.code ?? error.message}${
            error.code === "EADDRINUSE"
              ? ` (the port is taken: choose another, e.g. --port ${requestedPort + 1})`
              : ""
          }`,
          {
            cause: error,
          },
        ),
      ),
    );
    server.listen(requestedPort, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const guard = createGuard({ host, port, token });
  const where = `${store.describe()} · schema ${store.schema}`;
  const readOnly = store.readOnly;
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, { guard, data, sampler, where, readOnly }).catch((error: unknown) => {
      logger.error({ error: error instanceof Error ? error.message : String(error) }, "dashboard request");
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      else res.destroy();
    });
  });
  try {
    await sampler.start(); // one sample, the throughput's baseline; then only while someone looks
  } catch (error) {
    server.close();
    throw error;
  }
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
  logger.info({ url, token: token !== undefined }, "dashboard listening");

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        await sampler.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

interface Deps {
  guard: Guard;
  data: DashboardData;
  sampler: Sampler;
  where: string;
  readOnly: boolean;
}

const READ_ONLY_ACTIONS =
  "this dashboard is read-only (its store was opened with readOnly: true, as flowstore serve --read-only does): " +
  "nothing was changed; act through a dashboard on the primary";

/** The routes that show sampled numbers: a request for one keeps the sampler going (or wakes it). */
const SAMPLED_PATHS = new Set(["/api/overview"]);

async function handle(req: IncomingMessage, res: ServerResponse, deps: Deps): Promise<void> {
  setSecurityHeaders(res);
  const { guard } = deps;
  const url = new URL(req.url ?? "/", "http://dashboard.invalid");
  const method = req.method ?? "GET";
  const asJson = wantsJson(req, url.pathname);
  const fail = (status: number, message: string) =>
    asJson
      ? sendJson(res, status, { error: message })
      : sendHtml(res, status, messagePage(String(status), message));

  if (!hostAllowed(guard, req)) return fail(403, "unexpected Host header");

  if (method === "GET" || method === "HEAD") {
    if (url.pathname === "/assets/app.js") return send(res, 200, "text/javascript; charset=utf-8", CLIENT_JS);
    if (url.pathname === "/assets/app.css") return send(res, 200, "text/css; charset=utf-8", STYLE_CSS);
    if (url.pathname === "/favicon.ico") {
      res.writeHead(204);
      return void res.end();
    }
  }
  if (url.pathname === "/login") return login(req, res, guard);

  // A link with ?token= (as printed by `flowstore serve`) signs in once, then drops the token from the URL.
  const queryToken = url.searchParams.get("token");
  if (guard.token !== undefined && queryToken !== null && (method === "GET" || method === "HEAD")) {
    if (!sameSecret(queryToken, guard.token))
      return sendHtml(res, 401, loginPage("That token is not right."));
    url.searchParams.delete("token");
    return redirect(res, url.pathname + url.search, { "Set-Cookie": tokenCookie(guard.token) });
  }

  if (!authenticated(guard, req)) {
    return asJson ? sendJson(res, 401, { error: "a token is required" }) : sendHtml(res, 401, loginPage());
  }

  const found = match(method, url.pathname);
  if (!found) return fail(404, "not found");
  if ("allowed" in found) {
    res.setHeader("Allow", [...new Set(found.allowed)].join(", "));
    return fail(405, `${method} is not allowed here`);
  }
  // Refused whoever asks and however: on a read-only store no action can do anything.
  if (found.route.method === "POST" && deps.readOnly) return fail(403, READ_ONLY_ACTIONS);
  if (found.route.method === "POST" && !csrfOk(guard, req)) {
    return fail(403, "cross-site request refused: the X-CSRF-Token header or the Origin is wrong");
  }
  // Waking from idle, this waits for a fresh sample, so the page never shows numbers from before the pause.
  if (found.route.method === "GET" && SAMPLED_PATHS.has(url.pathname)) await deps.sampler.demand();
  try {
    await found.route.handle({
      req,
      res,
      url,
      params: found.params,
      data: deps.data,
      guard,
      where: deps.where,
      readOnly: deps.readOnly,
    });
  } catch (error) {
    const [status, message] = describeError(error);
    if (status === 500) throw error;
    fail(status, message);
  }
}

function describeError(error: unknown): [number, string] {
  if (error instanceof HttpError) return [error.status, error.message];
  if (error instanceof ValidationError) return [400, error.message];
  if (error instanceof NotFoundError) return [404, error.message];
  if (error instanceof ConflictError) return [409, error.message];
  return [500, "internal error"];
}

/** GET shows the form; POST checks the token, sets the cookie and goes to the overview. */
async function login(req: IncomingMessage, res: ServerResponse, guard: Guard): Promise<void> {
  if (guard.token === undefined) return redirect(res, "/");
  if (req.method === "GET" || req.method === "HEAD") return sendHtml(res, 200, loginPage());
  if (req.method !== "POST") {
    res.setHeader("Allow", "GET, HEAD, POST");
    return sendHtml(res, 405, messagePage("405", "method not allowed"));
  }
  if (!sameOrigin(req)) return sendHtml(res, 403, messagePage("403", "cross-site request refused"));
  const given = new URLSearchParams(await readBody(req, 4096).catch(() => "")).get("token") ?? undefined;
  if (!sameSecret(given, guard.token)) return sendHtml(res, 401, loginPage("That token is not right."));
  redirect(res, "/", { "Set-Cookie": tokenCookie(guard.token) });
}
