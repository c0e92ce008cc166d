/**
 * The World's queue on flowstore's job queue. A message is a job (its World queue name as the job's
 * name): `idempotencyKey` is the job's dedupe key while it waits or runs, `delaySeconds` its run time,
 * and the job's id is the message id. A worker claims jobs in batches (woken by NOTIFY) and delivers
 * each to the SDK's handler, over HTTP by default; an answer `{ timeoutSeconds }` snoozes the job, so
 * the same message comes back then with the next attempt number. Delayed jobs are rows: a worker that
 * starts after a crash delivers them.
 */

import http from "node:http";
import https from "node:https";
import type { MessageId, Queue, QueuePayload, QueuePrefix, ValidQueueName } from "@workflow/world";
import type { LeasedJob, Store } from "../../index.js";
import { decode, encode } from "./codec.js";
import { executionIdOf } from "./ids.js";

export const HEADER_QUEUE = "x-flowstore-queue-name";
export const HEADER_MESSAGE = "x-flowstore-message-id";
export const HEADER_ATTEMPT = "x-flowstore-message-attempt";

/**
 * How a delivery is written. "flowstore": the headers above and the JSON codec's body. "vqs": the
 * headers and body of the SDK's own local queue (world-local, and world-postgres 4.x, which reuses it):
 * `x-vqs-*` headers, bytes as `{"__type":"Uint8Array","data":base64}`. Spec 3 delivers so, because the
 * 4.x runtime binds its step handler to whichever World it found when it loaded (often world-local's
 * handler), and that handler reads only its own format. Either handler here reads both.
 */
export type Wire = "flowstore" | "vqs";

const VQS_QUEUE = "x-vqs-queue-name";
const VQS_MESSAGE = "x-vqs-message-id";
const VQS_ATTEMPT = "x-vqs-message-attempt";

function typedJsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) {
    return {
      __type: "Uint8Array",
      data: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64"),
    };
  }
  return value;
}

function typedJsonReviver(_key: string, value: unknown): unknown {
  const tagged = value as { __type?: unknown; data?: unknown } | null;
  if (tagged !== null && typeof tagged === "object" && tagged.__type === "Uint8Array") {
    if (typeof tagged.data === "string") return new Uint8Array(Buffer.from(tagged.data, "base64"));
  }
  return value;
}

/** Failures retry after 1 s, 2 s, 4 s... up to a minute; the runtime gives up on a run after 48 deliveries. */
const BACKOFF = { baseMs: 1_000, maxMs: 60_000 };
const MAX_ATTEMPTS = 64;

/** Sends one delivery: the SDK's handler as a fetch-style function, in this process or over HTTP. */
export type Deliver = (request: Request) => Promise<Response>;

interface JobPayload {
  /** The message, through the JSON codec. */
  m: unknown;
  /** Headers the sender asked to pass on. */
  h?: Record<string, string>;
}

/** The handler route of a queue name: workflow messages go to /flow, step messages to /step. */
function routeOf(queueName: string): "flow" | "step" {
  return /^__(?:[a-z][a-z0-9]*_)?wkf_step_/.test(queueName) ? "step" : "flow";
}

export function enqueueMessage(ready: Promise<Store>, queue: string): Queue["queue"] {
  return async (queueName, message, options) => {
    const store = await ready;
    // The run a message belongs to (a step's message names it workflowRunId): pruning the run removes
    // the messages still queued for it.
    const { runId = (message as { workflowRunId?: unknown }).workflowRunId } = message as { runId?: unknown };
    const payload: JobPayload = { m: encode(message) };
    if (options?.headers && Object.keys(options.headers).length) payload.h = options.headers;
    const id = await store.jobs.enqueue({
      queue,
      name: queueName,
      payload,
      key: options?.idempotencyKey,
      runAt: options?.delaySeconds ? new Date(Date.now() + options.delaySeconds * 1000) : undefined,
      maxAttempts: MAX_ATTEMPTS,
      backoff: BACKOFF,
      executionId: typeof runId === "string" ? executionIdOf(runId) : undefined,
    });
    return { messageId: id as MessageId };
  };
}

/**
 * The SDK's side: parses a delivery and runs the handler. It keeps nothing of the World that made it
 * (the runtime caches it for the life of the process), so a World started again still works with it.
 */
export const createQueueHandler: Queue["createQueueHandler"] = (prefix: QueuePrefix, handler) => {
  return async (request: Request): Promise<Response> => {
    const vqs = request.headers.has(VQS_QUEUE);
    const queueName = request.headers.get(vqs ? VQS_QUEUE : HEADER_QUEUE);
    const messageId = request.headers.get(vqs ? VQS_MESSAGE : HEADER_MESSAGE);
    const attempt = Number(request.headers.get(vqs ? VQS_ATTEMPT : HEADER_ATTEMPT));
    if (!queueName || !messageId || !Number.isInteger(attempt)) {
      return Response.json({ error: "missing queue headers" }, { status: 400 });
    }
    if (!queueName.startsWith(prefix)) return Response.json({ error: "unhandled queue" }, { status: 400 });
    const text = await request.text();
    const message = (vqs ? JSON.parse(text, typedJsonReviver) : decode(JSON.parse(text))) as QueuePayload;
    try {
      const result = await handler(message, {
        attempt,
        queueName: queueName as ValidQueueName,
        messageId: messageId as MessageId,
      });
      const timeoutSeconds = (result as { timeoutSeconds?: unknown } | undefined)?.timeoutSeconds;
      return Response.json(typeof timeoutSeconds === "number" ? { timeoutSeconds } : { ok: true });
    } catch (error) {
      return Response.json({ error: String(error) }, { status: 500 });
    }
  };
};

/** One delivery as the worker sends it: the handler's route, the headers and the JSON body. */
export interface Delivery {
  route: "flow" | "step";
  headers: Record<string, string>;
  body: string;
}

/** What a delivery got back. */
export interface Answer {
  status: number;
  text: string;
}

export type Transport = (delivery: Delivery) => Promise<Answer>;

const ROUTE_PATH = "/.well-known/workflow/v1/";

/** A transport that calls a fetch-style handler in this process. */
export function inProcess(deliver: Deliver): Transport {
  return async ({ route, headers, body }) => {
    const response = await deliver(
      new Request(`http://localhost${ROUTE_PATH}${route}`, { method: "POST", headers, body }),
    );
    return { status: response.status, text: await response.text() };
  };
}

/**
 * A transport that POSTs to `baseUrl` (read at each delivery: a server may learn its port late), with
 * node:http and kept-alive connections. Not fetch: a delivery lasts as long as the steps it runs, and
 * fetch gives up waiting for response headers after five minutes.
 */
export function overHttp(baseUrl: () => string, concurrency: number): { send: Transport; close(): void } {
  const agents = {
    "http:": new http.Agent({ keepAlive: true, maxSockets: concurrency }),
    "https:": new https.Agent({ keepAlive: true, maxSockets: concurrency }),
  };
  const send: Transport = ({ route, headers, body }) => {
    const url = new URL(`${ROUTE_PATH}${route}`, baseUrl());
    const client = url.protocol === "https:" ? https : http;
    return new Promise<Answer>((resolve, reject) => {
      const sent = client.request(
        url,
        {
          method: "POST",
          agent: agents[url.protocol as "http:"],
          headers: { ...headers, "content-length": Buffer.byteLength(body) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("error", reject);
          response.on("end", () =>
            resolve({ status: response.statusCode ?? 502, text: Buffer.concat(chunks).toString("utf8") }),
          );
        },
      );
      sent.on("error", reject);
      sent.end(body);
    });
  };
  return {
    send,
    close() {
      agents["http:"].destroy();
      agents["https:"].destroy();
    },
  };
}

/** The worker's handler: one delivery of the job's message; `{ timeoutSeconds }` snoozes the job. */
export function deliverJob(send: Transport, wire: Wire = "flowstore") {
  const [queueHeader, messageHeader, attemptHeader] =
    wire === "vqs" ? [VQS_QUEUE, VQS_MESSAGE, VQS_ATTEMPT] : [HEADER_QUEUE, HEADER_MESSAGE, HEADER_ATTEMPT];
  return async (job: LeasedJob): Promise<{ snoozeUntil: Date } | undefined> => {
    const { m, h } = job.payload as JobPayload;
    const { status, text } = await send({
      route: routeOf(job.name),
      headers: {
        ...h,
        "content-type": "application/json",
        [queueHeader]: job.name,
        [messageHeader]: job.id,
        [attemptHeader]: String(job.attempts),
      },
      body: wire === "vqs" ? JSON.stringify(decode(m), typedJsonReplacer) : JSON.stringify(m),
    });
    if (status < 200 || status > 299) {
      throw new Error(`the workflow handler answered ${status}: ${text.slice(0, 1000)}`);
    }
    let timeoutSeconds: unknown;
    try {
      timeoutSeconds = (JSON.parse(text) as { timeoutSeconds?: unknown }).timeoutSeconds;
    } catch {
      return undefined;
    }
    if (typeof timeoutSeconds !== "number" || !Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) {
      return undefined;
    }
    return { snoozeUntil: new Date(Date.now() + timeoutSeconds * 1000) };
  };
}
