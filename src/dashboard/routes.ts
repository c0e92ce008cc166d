/**
 * The dashboard's routes. Pages are one HTML shell filled by /assets/app.js from the JSON API:
 *
 *   GET  /                          overview page
 *   GET  /executions                executions list (?status=&definition=&cursor=)
 *   GET  /executions/:id            one execution
 *   GET  /queues                    queues and their jobs (?queue=&status=dead|waiting|running&after=)
 *   GET  /threads                   LangGraph's threads (?after=), or one thread's checkpoints (?scope=&thread=)
 *   GET  /agents                    Agents SDK approvals waiting and sessions (?after=), or one session (?session=)
 *   GET  /mastra                    Mastra's workflow runs (?workflow=&after=), or one run (?workflow=&run=)
 *   GET  /login, POST /login        the token form (only when a token is set)
 *   GET  /assets/app.js, /assets/app.css
 *
 *   GET  /api/overview              executions per status, queue stats and depth, timers due within
 *                                   5 minutes, and the sampled series (queue depth, finished per minute)
 *   GET  /api/definitions           workflow names, for the list's filter
 *   GET  /api/executions            ?status=&definition=&from=&to=(ISO)&meta=(k=v or JSON)&limit=(1..200, default 50)&cursor= newest first,
 *                                   keyset-paged: { items, nextCursor }
 *   GET  /api/executions/:id        { execution, origin (fork of, last rewind), forks, steps (up to 1,000,
 *                                   with durationMs; a value offloaded, bytes or over 64 KiB as outputRef),
 *                                   stepsTruncated, events (the latest 200, payloadRef likewise),
 *                                   earlierEvents, timeline, tasks (tree order, with depth and durationMs),
 *                                   tasksTruncated, componentState, correlations, timers, jobs, children }
 *   GET  /api/executions/:id/steps/:n/output       a step's output, whole (read from the blob store when
 *   GET  /api/executions/:id/events/:seq/payload   offloaded): JSON, or bytes as a download
 *   GET  /api/queues                ?queue=&status=&after=&limit=  { stats, workers, jobs, nextAfter, schedules }
 *   GET  /api/jobs/:id              one job
 *   GET  /api/threads               ?after=  { items: [{ scope, threadId, updatedAt, checkpoints }], nextAfter }
 *   GET  /api/threads/checkpoints   ?scope=&thread=  { scope, threadId, checkpoints } newest first
 *   GET  /api/agents/sessions       ?after=  { items: [{ sessionId, items, createdAt, updatedAt }], nextAfter }
 *   GET  /api/agents/session        ?session=  { sessionId, total, items: [{ position, kind, text, item }] }
 *   GET  /api/agents/approvals      ?after=  { items: [paused runs with their approvals], nextAfter } oldest first
 *   GET  /api/mastra/runs           ?workflow=&after=  { items: [{ workflowName, runId, status, resourceId, createdAt, updatedAt }], nextAfter } newest first
 *   GET  /api/mastra/run            ?workflow=&run=  the run with its steps ({ id, status, inRow }) and its snapshot, or null
 *   GET  /api/session               { csrfToken } for scripts that POST
 *   POST /api/jobs/:id/retry        puts a dead job back in its queue: { retried: [id] }, 409 if it is not dead or its key is taken
 *   POST /api/jobs/:id/delete       deletes a dead job: { deleted: [id] }, 409 if it is not dead
 *   POST /api/queues/:queue/dead/retry (or /delete)  every dead job of the queue: { retried } or { deleted }
 *   POST /api/executions/:id/cancel cancels the run, its unfinished child runs and their unfinished tasks:
 *                                   { id, status }, 409 when it is finished
 *   POST /api/executions/:id/replay runs a failed, cancelled or timed-out run again through the engine's
 *                                   `replay` (DashboardOptions): { id (the new run), replayOf }; 404 without one
 *   POST /api/executions/:id/fork   ?fromStep=N (&force=true): a new run that keeps the run's steps below N
 *                                   and what it recorded up to them (executions.fork): { id (the new run),
 *                                   forkOf, fromStep }; 409 for a run not finished without force
 *   POST /api/executions/:id/rewind ?toStep=N (&force=true): the run taken back to step N
 *                                   (executions.rewind): { id, status, version }; 409 as fork
 *   POST /api/queues/:queue/pause   stops claims of the queue (resume: lets them go on): { queue, paused, changed }
 *   POST /api/schedules/:name/pause stops enqueueing the schedule's ticks (resume: from its next tick after
 *                                   now): { name, paused, changed }
 *   GET  /metrics                   the store in Prometheus' text format (metrics.ts); with a token set,
 *                                   scrape it with `Authorization: Bearer <token>`
 *
 * GET never changes anything. A POST needs the access token (when one is set), the X-CSRF-Token header
 * and, when the client sends Origin or Sec-Fetch-Site, this very origin; on a read-only store every
 * POST answers 403 (JSON: { error }), and the pages offer no actions.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { isUuid } from "../index.js";
import { type PageName, shellPage } from "./assets/page.js";
import { checkJobId, type DashboardData } from "./data.js";
import { HttpError, send, sendBytes, sendHtml, sendJson } from "./http.js";
import { METRICS_CONTENT_TYPE } from "./metrics.js";
import type { Guard } from "./security.js";

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: string[];
  data: DashboardData;
  guard: Guard;
  where: string;
  /** The store was opened with readOnly: the pages offer no actions. */
  readOnly: boolean;
}

export interface Route {
  method: "GET" | "POST";
  pattern: RegExp;
  handle(ctx: RouteContext): Promise<void> | void;
}

const ID = "([0-9a-fA-F-]{36})";

function page(name: PageName) {
  return (ctx: RouteContext) =>
    sendHtml(
      ctx.res,
      200,
      shellPage(name, ctx.guard.csrfToken, ctx.where, { readOnly: ctx.readOnly, replays: ctx.data.replays }),
    );
}

function json<T>(read: (ctx: RouteContext) => Promise<T> | T) {
  return async (ctx: RouteContext) => sendJson(ctx.res, 200, await read(ctx));
}

function id(ctx: RouteContext): string {
  const value = ctx.params[0] ?? "";
  if (!isUuid(value)) throw new HttpError(404, "not found");
  return value;
}

/** A step number from the query: a number when it is digits, else as given (the store refuses it, 400). */
function stepParam(ctx: RouteContext, name: string): number {
  const given = ctx.url.searchParams.get(name);
  return (given !== null && /^\d{1,10}$/.test(given) ? Number(given) : given) as number;
}

/** A queue's (or schedule's) name from its path segment (any text, percent-encoded). */
function decodeQueue(segment: string, what = "queue"): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `the ${what} name in the path is not valid percent-encoding`);
  }
}

export const ROUTES: Route[] = [
  { method: "GET", pattern: /^\/$/, handle: page("overview") },
  { method: "GET", pattern: /^\/executions$/, handle: page("executions") },
  {
    method: "GET",
    pattern: new RegExp(`^/executions/${ID}$`),
    handle: (ctx) => {
      id(ctx);
      page("execution")(ctx);
    },
  },
  { method: "GET", pattern: /^\/queues$/, handle: page("queues") },
  { method: "GET", pattern: /^\/threads$/, handle: page("threads") },
  { method: "GET", pattern: /^\/agents$/, handle: page("agents") },
  { method: "GET", pattern: /^\/mastra$/, handle: page("mastra") },
  {
    method: "GET",
    pattern: /^\/api\/mastra\/runs$/,
    handle: json((ctx) => ctx.data.mastra("runs", ctx.url.searchParams)),
  },
  {
    method: "GET",
    pattern: /^\/api\/mastra\/run$/,
    handle: json((ctx) => ctx.data.mastra("run", ctx.url.searchParams)),
  },
  {
    method: "GET",
    pattern: /^\/api\/agents\/sessions$/,
    handle: json((ctx) => ctx.data.agents("sessions", ctx.url.searchParams)),
  },
  {
    method: "GET",
    pattern: /^\/api\/agents\/session$/,
    handle: json((ctx) => ctx.data.agents("session", ctx.url.searchParams)),
  },
  {
    method: "GET",
    pattern: /^\/api\/agents\/approvals$/,
    handle: json((ctx) => ctx.data.agents("approvals", ctx.url.searchParams)),
  },
  {
    method: "GET",
    pattern: /^\/api\/threads$/,
    handle: json((ctx) => ctx.data.threads("threads", ctx.url.searchParams)),
  },
  {
    method: "GET",
    pattern: /^\/api\/threads\/checkpoints$/,
    handle: json((ctx) => ctx.data.threads("thread", ctx.url.searchParams)),
  },
  { method: "GET", pattern: /^\/api\/overview$/, handle: json((ctx) => ctx.data.overview()) },
  {
    method: "GET",
    pattern: /^\/api\/definitions$/,
    handle: json(async (ctx) => ({ names: await ctx.data.definitionNames() })),
  },
  {
    method: "GET",
    pattern: /^\/api\/executions$/,
    handle: json((ctx) => ctx.data.executions(ctx.url.searchParams)),
  },
  {
    method: "GET",
    pattern: new RegExp(`^/api/executions/${ID}$`),
    handle: json((ctx) => ctx.data.execution(id(ctx))),
  },
  {
    method: "GET",
    pattern: new RegExp(`^/api/executions/${ID}/(steps/(\\d{1,10})/output|events/(\\d{1,18})/payload)$`),
    handle: async (ctx) => {
      const steps = ctx.params[2] !== undefined;
      const value = await ctx.data.value(
        id(ctx),
        steps ? "steps" : "events",
        Number(ctx.params[2] ?? ctx.params[3]),
      );
      if (value instanceof Uint8Array) sendBytes(ctx.res, value);
      else sendJson(ctx.res, 200, value === undefined ? null : value);
    },
  },
  { method: "GET", pattern: /^\/api\/queues$/, handle: json((ctx) => ctx.data.queues(ctx.url.searchParams)) },
  {
    method: "GET",
    pattern: new RegExp(`^/api/jobs/${ID}$`),
    handle: json((ctx) => ctx.data.job(checkJobId(id(ctx)))),
  },
  {
    method: "POST",
    pattern: new RegExp(`^/api/jobs/${ID}/delete$`),
    handle: json((ctx) => ctx.data.deleteDead(checkJobId(id(ctx)))),
  },
  {
    method: "POST",
    pattern: /^\/api\/queues\/([^/]+)\/dead\/(retry|delete)$/,
    handle: json((ctx) =>
      ctx.data.everyDead(decodeQueue(ctx.params[0] ?? ""), ctx.params[1] === "retry" ? "retry" : "delete"),
    ),
  },
  {
    method: "POST",
    pattern: new RegExp(`^/api/executions/${ID}/cancel$`),
    handle: json((ctx) => ctx.data.cancelRun(id(ctx))),
  },
  {
    method: "POST",
    pattern: new RegExp(`^/api/executions/${ID}/replay$`),
    handle: async (ctx) => {
      if (!ctx.data.replays) throw new HttpError(404, "this dashboard's engine does not replay runs");
      sendJson(ctx.res, 200, await ctx.data.replay(id(ctx)));
    },
  },
  {
    method: "POST",
    pattern: new RegExp(`^/api/executions/${ID}/(fork|rewind)$`),
    handle: json<object>((ctx) => {
      const force = ctx.url.searchParams.get("force") === "true";
      return ctx.params[1] === "fork"
        ? ctx.data.forkRun(id(ctx), stepParam(ctx, "fromStep"), force)
        : ctx.data.rewindRun(id(ctx), stepParam(ctx, "toStep"), force);
    }),
  },
  {
    method: "POST",
    pattern: /^\/api\/queues\/([^/]+)\/(pause|resume)$/,
    handle: async (ctx) => {
      const queue = decodeQueue(ctx.params[0] ?? "");
      sendJson(ctx.res, 200, await ctx.data.pauseQueue(queue, ctx.params[1] === "pause"));
    },
  },
  {
    method: "POST",
    pattern: /^\/api\/schedules\/([^/]+)\/(pause|resume)$/,
    handle: async (ctx) => {
      const name = decodeQueue(ctx.params[0] ?? "", "schedule");
      sendJson(ctx.res, 200, await ctx.data.pauseSchedule(name, ctx.params[1] === "pause"));
    },
  },
  {
    method: "GET",
    pattern: /^\/metrics$/,
    handle: async (ctx) => send(ctx.res, 200, METRICS_CONTENT_TYPE, await ctx.data.metrics()),
  },
  { method: "GET", pattern: /^\/api\/session$/, handle: json((ctx) => ({ csrfToken: ctx.guard.csrfToken })) },
  {
    method: "POST",
    pattern: new RegExp(`^/api/jobs/${ID}/retry$`),
    handle: async (ctx) => {
      const result = await ctx.data.retry(checkJobId(id(ctx)));
      if (result.retried.length === 0) {
        sendJson(ctx.res, 409, {
          error: "the job is not dead, no longer exists, or its dedupe key is held by a live job",
          retried: [],
        });
      } else {
        sendJson(ctx.res, 200, result);
      }
    },
  },
];

/** The route for the path, or the methods the path allows (for a 405). */
export function match(
  method: string,
  pathname: string,
): { route: Route; params: string[] } | { allowed: string[] } | null {
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const found = route.pattern.exec(pathname);
    if (!found) continue;
    if (route.method === method || (route.method === "GET" && method === "HEAD")) {
      return { route, params: found.slice(1) };
    }
    allowed.push(route.method === "GET" ? "GET, HEAD" : route.method);
  }
  return allowed.length ? { allowed } : null;
}
