/**
 * `createWorld`: a Workflow SDK World on a flowstore store, for either line of the SDK: spec 3
 * (workflow 4.x) or spec 5 (the 5.0 betas), as the installed @workflow/world declares or the caller
 * asks (spec.ts). Runs are executions, events the execution's history, steps and waits its tasks,
 * hooks signals, streams flowstore streams and the queue flowstore jobs, delivered by a worker to the
 * SDK's handler. Nothing in the SDK calls start(): the worker starts when the runtime first makes a
 * queue handler or queues a message.
 */

import net from "node:net";
import type { World } from "@workflow/world";
import { integerOption, optionKeys, refuseUnknownKeys } from "../../core/input.js";
import { openStore, type Store, type StoreOptions } from "../../index.js";
import type { HookOwner } from "./entities.js";
import { toWorldError } from "./errors.js";
import { createEventBatch } from "./event-batch.js";
import { createEvents } from "./events.js";
import { streamOwnerOf } from "./ids.js";
import {
  createQueueHandler,
  type Deliver,
  deliverJob,
  enqueueMessage,
  inProcess,
  overHttp,
  type Transport,
} from "./queue.js";
import { createRunsOfSlotLine } from "./runs-many.js";
import { chooseSpec, type SpecVersion } from "./spec.js";
import { createFlatStreamer } from "./spec3.js";
import { createHooks, createRuns, createSteps } from "./storage.js";
import { createStreams, ownedStreams, writeSession } from "./streams.js";

export interface FlowstoreWorldOptions {
  /** The store to keep workflows in. Default: `openStore(storeOptions)` (DATABASE_URL, else embedded). */
  store?: Store | Promise<Store>;
  /** How to open the store when none is given. */
  storeOptions?: StoreOptions;
  /** Close the store with the World (default: only a store the World opened itself). */
  closeStore?: boolean;
  /** The job queue the World's messages go to (default "workflow"). */
  queue?: string;
  /** Deliveries running at once (default 20). */
  concurrency?: number;
  /**
   * Runs a delivery in this process, e.g. `(request) => POST(request)` with the SDK's flow handler.
   * Default: an HTTP POST to `baseUrl`.
   */
  deliver?: Deliver;
  /** Where the SDK's handlers are served (default `http://localhost:$PORT`, PORT read at each delivery). */
  baseUrl?: string;
  /** The deployment id the World reports (default "flowstore"). */
  deploymentId?: string;
  /**
   * How long a message being delivered stays taken by the worker that took it (default 30 s, or
   * FLOWSTORE_WORKFLOW_LEASE_MS). The worker renews it while the delivery runs, however long; it runs
   * out only when that process is gone (killed, or cut off from the server), and then another worker
   * delivers the message again. Shorter: a crashed process's runs go on sooner.
   */
  leaseMs?: number;
  /** How often the worker looks for due delayed messages and stream readers poll without a NOTIFY (default 250 ms). */
  pollIntervalMs?: number;
  /** What hooks report as their owner, project and environment (default empty strings). */
  hookOwner?: Partial<HookOwner>;
  /**
   * The World spec to serve: 3 (workflow 4.x), 5 (workflow 5.0.0-beta.35–41), or 6 or 7 (workflow
   * 5.0.0-beta.42 and later, whose events are numbered by their position in the run). Default: the
   * one the installed @workflow/world declares (or mints, from @workflow/world 5.0.0-beta.29).
   */
  specVersion?: SpecVersion;
  /**
   * Start the worker when the runtime first uses the World: its first createQueueHandler() (a process
   * serving the SDK's handlers) or queue() (default true). false: only start() starts it.
   */
  autoStart?: boolean;
}

/** The SDK's World, with the calls that interface leaves optional present, as this World has them. */
export interface FlowstoreWorld extends World {
  /** The store the World keeps its state in. */
  readonly store: Promise<Store>;
  /**
   * Starts the worker that delivers queued messages to the SDK's handlers (once; again does nothing).
   * Needed only with `autoStart: false`, or to deliver before the runtime first uses the World.
   */
  start(): Promise<void>;
  /** Stops the worker and closes the store if the World opened it (or `closeStore` says so). */
  close(): Promise<void>;
}

/** The same calls, with a store error thrown as the runtime tells errors apart (see toWorldError). */
function guarded<T extends object>(api: T): T {
  return Object.fromEntries(
    Object.entries(api).map(([name, call]) => [
      name,
      typeof call === "function"
        ? async (...args: unknown[]) => {
            try {
              return await call(...args);
            } catch (error) {
              throw toWorldError(error);
            }
          }
        : call,
    ]),
  ) as T;
}

// A misspelt storeOptions would open the embedded store, a misspelt deliver POST to localhost.
const WORLD_KEYS = optionKeys<FlowstoreWorldOptions>({
  store: true,
  storeOptions: true,
  closeStore: true,
  queue: true,
  concurrency: true,
  deliver: true,
  baseUrl: true,
  deploymentId: true,
  pollIntervalMs: true,
  leaseMs: true,
  hookOwner: true,
  specVersion: true,
  autoStart: true,
});
const HOOK_OWNER_KEYS = optionKeys<HookOwner>({ ownerId: true, projectId: true, environment: true });

/**
 * FLOWSTORE_WORKFLOW_LEASE_MS, for a World the runtime makes from WORKFLOW_TARGET_WORLD (no options):
 * a whole number of milliseconds, else a ValidationError that names it.
 */
function leaseFromEnvironment(): number | undefined {
  const text = process.env.FLOWSTORE_WORKFLOW_LEASE_MS;
  if (text === undefined || text === "") return undefined;
  return integerOption(/^\d+$/.test(text) ? Number(text) : text, "FLOWSTORE_WORKFLOW_LEASE_MS", {
    min: 1,
    fallback: 30_000,
  });
}

/** Whether something takes a TCP connection where `url` points. */
function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      resolve(false);
      return;
    }
    const port = Number(target.port || (target.protocol === "https:" ? 443 : 80));
    const socket = net.connect({ host: target.hostname.replace(/^\[|\]$/g, ""), port });
    socket.setTimeout(1_000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

/** What a World runs on: its store and the worker that delivers its queue. */
interface Engine {
  ready: Promise<Store>;
  /** Starts the worker, once. */
  start(): Promise<void>;
  /**
   * Starts the worker once the SDK's handlers answer where it delivers: at once in process, over HTTP
   * when their port takes a connection (as world-postgres 4.x waits), so that a process that loads the
   * runtime but serves nothing (a script resuming a hook) takes no message it cannot deliver.
   */
  startWhenServed(): Promise<void>;
  /** Stops the worker and closes the store if it is the engine's to close. */
  release(): Promise<void>;
}

function openEngine(options: FlowstoreWorldOptions, spec: SpecVersion): Engine {
  const ready: Promise<Store> = Promise.resolve(options.store ?? openStore(options.storeOptions));
  // Unobserved until first used: a store that fails to open is reported there, not as an unhandled rejection.
  ready.catch(() => {});
  const queue = options.queue ?? "workflow";
  const concurrency = options.concurrency ?? 20;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const baseUrl = () => options.baseUrl ?? `http://localhost:${process.env.PORT ?? 3000}`;
  const http = options.deliver ? undefined : overHttp(baseUrl, concurrency);
  const send = options.deliver ? inProcess(options.deliver) : (http as { send: Transport }).send;
  const handler = deliverJob(send, spec === 3 ? "vqs" : "flowstore");
  let worker: ReturnType<Store["jobs"]["work"]> | undefined;
  let released = false;
  let waiting: Promise<void> | undefined;
  const start = async () => {
    if (worker || released) return;
    const store = await ready;
    if (released) return;
    worker ??= store.jobs.work({ queue, concurrency, pollIntervalMs, handler, leaseMs: options.leaseMs });
  };
  return {
    ready,
    start,
    startWhenServed() {
      if (!http) return start();
      waiting ??= (async () => {
        while (!worker && !released) {
          if (await answers(baseUrl())) return start();
          await new Promise((resolve) => setTimeout(resolve, pollIntervalMs).unref());
        }
      })();
      return waiting;
    },
    async release() {
      released = true;
      await worker?.stop();
      http?.close();
      if (options.closeStore ?? options.store === undefined) await (await ready).close();
    },
  };
}

/**
 * Engines of the Worlds that open their own store (from the environment, or from options that are
 * plain values), by their options. The runtime makes two Worlds per process (getWorld() and
 * getWorldHandlers() each call the World module), which then share one store and one worker; the last
 * World closed closes them.
 */
const shared = new Map<string, { engine: Engine; users: number }>();

/** Whether a value is JSON as it is (no pool, logger or other object that JSON would not keep). */
function isPlain(value: unknown): boolean {
  if (value === null || ["string", "number", "boolean", "undefined"].includes(typeof value)) return true;
  if (Array.isArray(value)) return value.every(isPlain);
  if (typeof value !== "object" || Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.values(value as object).every(isPlain);
}

function engineOf(options: FlowstoreWorldOptions, spec: SpecVersion): Engine {
  if (options.store !== undefined || options.deliver !== undefined || !isPlain(options.storeOptions)) {
    return openEngine(options, spec);
  }
  const { hookOwner: _, autoStart: __, ...rest } = options;
  const key = JSON.stringify({ ...rest, specVersion: spec });
  let entry = shared.get(key);
  if (!entry) {
    entry = { engine: openEngine(options, spec), users: 0 };
    shared.set(key, entry);
  }
  entry.users++;
  const { engine } = entry;
  return {
    ready: engine.ready,
    start: () => engine.start(),
    startWhenServed: () => engine.startWhenServed(),
    async release() {
      const current = shared.get(key);
      if (current && --current.users === 0) {
        shared.delete(key);
        await engine.release();
      }
    },
  };
}

/**
 * What the slot line's runtime may rely on this World for, and nothing it would have to take on trust:
 * - hookResumeDedup: a hook_received written with a resume id locks its run and returns the event an
 *   earlier write of that (run, resume id) committed, if any (hook-events.ts), and events.list returns
 *   the resume id of each event written with one.
 * Left out, each for a reason the runtime's fast path would break on:
 * - invoke: it needs at most one runner of a run across processes; the queue delivers a run's messages
 *   to whichever worker claims them.
 * - hookRetention: hooks go with their run's end (a signal is held only by a live execution).
 * - maxConcurrency: the World's queue has no per-topic concurrency limit.
 * - deploymentAffinity: the deployment id ("flowstore" unless set) names no fixed build.
 * getEnvironment and getRuntimeDeadline are left out too: a PostgreSQL store has one tenant, so no
 * environment to report (the SDK skips its check without one), and a worker process has no platform
 * deadline to end it.
 */
const SLOT_LINE_CAPABILITIES = Object.freeze({ hookResumeDedup: true });

export function createWorld(given: FlowstoreWorldOptions = {}): FlowstoreWorld {
  refuseUnknownKeys(given, WORLD_KEYS);
  // Checked here, not when the worker starts: a bad lease fails the World's making, where it is set.
  const leaseMs =
    given.leaseMs === undefined
      ? leaseFromEnvironment()
      : integerOption(given.leaseMs, "leaseMs", { min: 1, fallback: 30_000 });
  const options = { ...given, leaseMs };
  if (options.hookOwner) refuseUnknownKeys(options.hookOwner, HOOK_OWNER_KEYS, "hookOwner");
  const spec = chooseSpec(options.specVersion);
  const owner: HookOwner = { ownerId: "", projectId: "", environment: "", ...options.hookOwner };
  const engine = engineOf(options, spec);
  const { ready } = engine;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const streams = ownedStreams(ready, pollIntervalMs);
  const enqueue = guarded({ queue: enqueueMessage(ready, options.queue ?? "workflow") }).queue;
  let closed = false;
  const autoStart = () => {
    if (options.autoStart !== false && !closed) engine.startWhenServed().catch(() => {});
  };

  const runs = createRuns(ready, spec);
  const world = {
    specVersion: spec,
    store: ready,
    // Spec 6–7's many-run reads, bulk cancels and waits for a run's end serve every line: the earlier
    // lines' runtimes never call them.
    runs: guarded({ ...runs, ...createRunsOfSlotLine(ready, spec, runs.get, pollIntervalMs) }),
    steps: guarded(createSteps(ready, spec)),
    // A batch only on the slot line: its presence is what tells the runtime to batch, and only the slot
    // line's runtime numbers events as a batch lands them.
    events: guarded({
      ...createEvents(ready, owner, spec),
      ...(spec >= 6 ? { createBatch: createEventBatch(ready, owner, spec) } : {}),
    }),
    hooks: guarded(createHooks(ready, owner)),
    streams: {
      ...guarded(createStreams(streams)),
      // Not guarded: the runtime takes the session as returned, not a promise of it; its calls convert
      // their own errors.
      createWriteSession: (runId: string, name: string, _options?: { writerId: string }) =>
        writeSession(streams, streamOwnerOf(runId), name),
    },
    ...(spec >= 6 ? { capabilities: SLOT_LINE_CAPABILITIES } : {}),
    ...(spec === 3 ? guarded(createFlatStreamer(streams, ready)) : {}),
    async queue(...args: Parameters<typeof enqueue>) {
      autoStart();
      return enqueue(...args);
    },
    createQueueHandler(...args: Parameters<typeof createQueueHandler>) {
      autoStart();
      return createQueueHandler(...args);
    },
    getDeploymentId: async () => options.deploymentId ?? "flowstore",

    async start() {
      if (!closed) await engine.start();
    },

    async close() {
      if (closed) return;
      closed = true;
      await engine.release();
    },
  };
  // The SDK's World of whichever line is installed: spec 3's calls or spec 5's are present as chosen.
  return world as unknown as FlowstoreWorld;
}
