/**
 * `createWorld`: a Workflow SDK World (spec 5) on a flowstore store. Runs are executions, events the
 * execution's history, steps and waits its tasks, hooks signals, streams flowstore streams and the
 * queue flowstore jobs, delivered by a worker to the SDK's handler.
 */

import type { World } from "@workflow/world";
import { optionKeys, refuseUnknownKeys } from "../../core/input.js";
import { openStore, type Store, type StoreOptions } from "../../index.js";
import type { HookOwner } from "./entities.js";
import { SPEC_VERSION } from "./entities.js";
import { toWorldError } from "./errors.js";
import { createEvents } from "./events.js";
import {
  createQueueHandler,
  type Deliver,
  deliverJob,
  enqueueMessage,
  inProcess,
  overHttp,
  type Transport,
} from "./queue.js";
import { createHooks, createRuns, createSteps } from "./storage.js";
import { createStreams } from "./streams.js";

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
  /** How often the worker looks for due delayed messages and stream readers poll without a NOTIFY (default 250 ms). */
  pollIntervalMs?: number;
  /** What hooks report as their owner, project and environment (default empty strings). */
  hookOwner?: Partial<HookOwner>;
}

/** The SDK's World, with the calls that interface leaves optional present, as this World has them. */
export interface FlowstoreWorld extends World {
  /** The store the World keeps its state in. */
  readonly store: Promise<Store>;
  /** Starts the worker that delivers queued messages to the SDK's handlers (once; again does nothing). */
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
  hookOwner: true,
});
const HOOK_OWNER_KEYS = optionKeys<HookOwner>({ ownerId: true, projectId: true, environment: true });

export function createWorld(options: FlowstoreWorldOptions = {}): FlowstoreWorld {
  refuseUnknownKeys(options, WORLD_KEYS);
  if (options.hookOwner) refuseUnknownKeys(options.hookOwner, HOOK_OWNER_KEYS, "hookOwner");
  const ownsStore = options.store === undefined;
  const ready: Promise<Store> = Promise.resolve(options.store ?? openStore(options.storeOptions));
  // Unobserved until first used: a store that fails to open is reported there, not as an unhandled rejection.
  ready.catch(() => {});
  const queue = options.queue ?? "workflow";
  const concurrency = options.concurrency ?? 20;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const owner: HookOwner = { ownerId: "", projectId: "", environment: "", ...options.hookOwner };
  const http = options.deliver
    ? undefined
    : overHttp(() => options.baseUrl ?? `http://localhost:${process.env.PORT ?? 3000}`, concurrency);
  const send = options.deliver ? inProcess(options.deliver) : (http as { send: Transport }).send;
  let worker: ReturnType<Store["jobs"]["work"]> | undefined;
  let closed = false;

  return {
    specVersion: SPEC_VERSION,
    store: ready,
    runs: guarded(createRuns(ready)),
    steps: guarded(createSteps(ready)),
    events: guarded(createEvents(ready, owner)),
    hooks: guarded(createHooks(ready, owner)),
    streams: guarded(createStreams(ready, pollIntervalMs)),
    queue: guarded({ queue: enqueueMessage(ready, queue) }).queue,
    createQueueHandler,
    getDeploymentId: async () => options.deploymentId ?? "flowstore",

    async start() {
      if (worker || closed) return;
      const store = await ready;
      worker ??= store.jobs.work({ queue, concurrency, pollIntervalMs, handler: deliverJob(send) });
    },

    async close() {
      if (closed) return;
      closed = true;
      await worker?.stop();
      http?.close();
      if (options.closeStore ?? ownsStore) await (await ready).close();
    },
  };
}
