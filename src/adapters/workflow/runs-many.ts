/**
 * The runs' calls World spec 6–7 adds (all optional there, harmless to the earlier lines, which do not
 * call them): `getMany` reads several runs as one snapshot, `cancelMany` cancels several with an
 * outcome for each, and `waitForTerminalStatus` answers once a run has ended or its budget is spent.
 *
 * Typed with local shapes rather than @workflow/world 5.0.0-beta.37's own (the devDependency alias
 * @workflow/world-slots): the declarations flowstore publishes must name no package its users do not
 * install, and the @workflow/world they do install may be 4.x or an early beta that has none of these
 * types. test/adapters/workflow/workflow-world-slots-types.test.ts holds these shapes against
 * beta.37's World, so a change there fails the type-check here.
 */

import type { WorkflowRun, WorkflowRunWithoutData } from "@workflow/world";
import type { Store } from "../../index.js";
import { type ResolveData, runFields, toRun } from "./entities.js";
import { WorkflowWorldError } from "./errors.js";
import { isTerminal, lockRun, type Write } from "./event-support.js";
import { executionIdOf } from "./ids.js";
import { runCancelled } from "./run-events.js";
import type { SpecVersion } from "./spec.js";

/** What `cancelMany` takes (@workflow/world's BulkCancelWorkflowRunsRequest). */
export interface CancelManyRequest {
  runIds: string[];
  cancelReason?: string;
}

/** One run's outcome of `cancelMany` (@workflow/world's BulkCancelWorkflowRunResult). */
export type CancelOutcome =
  | { runId: string; outcome: "cancelled" }
  | { runId: string; outcome: "already_cancelled" }
  | { runId: string; outcome: "not_cancellable"; status: string }
  | { runId: string; outcome: "not_found" }
  | { runId: string; outcome: "failed"; code: string; retryable: boolean };

/** What `cancelMany` returns (@workflow/world's BulkCancelWorkflowRunsResult). */
export interface CancelManyResult {
  summary: {
    requested: number;
    cancelled: number;
    alreadyCancelled: number;
    notCancellable: number;
    notFound: number;
    failed: number;
  };
  results: CancelOutcome[];
}

export interface WaitParams {
  resolveData?: ResolveData;
  timeoutMs?: number;
  signal?: AbortSignal;
}

type AnyRun = WorkflowRun | WorkflowRunWithoutData;

export interface RunsOfSlotLine {
  getMany(ids: readonly string[], params?: { resolveData?: ResolveData }): Promise<(AnyRun | null)[]>;
  cancelMany(request: CancelManyRequest): Promise<CancelManyResult>;
  waitForTerminalStatus(id: string, params?: WaitParams): Promise<AnyRun>;
}

/** As many ids as the SDK's bulk cancel sends at most (BULK_CANCEL_MAX_RUN_IDS), and one list page. */
const MAX_IDS = 500;
/** Runs cancelled at once by one cancelMany: each takes a connection for its transaction. */
const CANCELS_AT_ONCE = 4;
/**
 * The longest wait one call holds: the SDK asks for 50 s and asks again, so a longer budget only keeps
 * a connection-less timer and a caller's slot busy with nothing to learn.
 */
const MAX_WAIT_MS = 60_000;

function refuse(message: string): never {
  throw new WorkflowWorldError(message, { status: 400 });
}

/**
 * The waits for a run's end in this process, by execution id: a World of this process that ends a run
 * wakes them at once. A run ended elsewhere (another process) is seen at the next read instead.
 */
const waiting = new Map<string, Set<() => void>>();

/** Wakes this process's waits for the run's end: the World ended the run (its write has committed). */
export function announceRunEnd(executionId: string): void {
  for (const wake of waiting.get(executionId) ?? []) wake();
}

/** Sleeps `ms`, or less when the run ends in this process or `signal` aborts. */
function pause(executionId: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const wakes = waiting.get(executionId) ?? new Set();
    waiting.set(executionId, wakes);
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      wakes.delete(done);
      if (wakes.size === 0 && waiting.get(executionId) === wakes) waiting.delete(executionId);
      resolve();
    };
    const timer = setTimeout(done, ms);
    wakes.add(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** What one run's cancel came to, as the single cancel (run_cancelled) would have made it. */
async function cancelOne(
  store: Store,
  runId: string,
  spec: SpecVersion,
  cancelReason: string | undefined,
): Promise<CancelOutcome> {
  const executionId = executionIdOf(runId);
  if (!executionId) return { runId, outcome: "not_found" };
  return store.transaction(async (tx) => {
    const write: Write = {
      scope: tx,
      runId,
      executionId,
      request: { eventType: "run_cancelled" },
      resolveData: "none",
      spec,
    };
    // Locked, so that of two cancels of one run (this, another cancelMany, a single cancel) the second
    // sees the first's end: a run is cancelled, with its one event, once.
    const run = await lockRun(write);
    if (!run) return { runId, outcome: "not_found" };
    if (run.status === "cancelled") return { runId, outcome: "already_cancelled" };
    if (isTerminal(run.status)) return { runId, outcome: "not_cancellable", status: run.status };
    // The event the SDK's single cancelRun() writes: the run's own spec, and the reason when given.
    write.request = {
      eventType: "run_cancelled",
      specVersion: runFields(run).specVersion ?? spec,
      ...(cancelReason === undefined ? {} : { eventData: { cancelReason } }),
    };
    await runCancelled(write);
    return { runId, outcome: "cancelled" };
  });
}

/** cancelOne, and the run's waits in this process woken once its cancel has committed. */
async function cancelAndAnnounce(
  store: Store,
  runId: string,
  spec: SpecVersion,
  cancelReason: string | undefined,
): Promise<CancelOutcome> {
  const outcome = await cancelOne(store, runId, spec, cancelReason);
  const executionId = executionIdOf(runId);
  if (outcome.outcome === "cancelled" && executionId) announceRunEnd(executionId);
  return outcome;
}

/** A cancel that failed, as its outcome: retryable when the store failed for now (see toWorldError). */
function failedOutcome(runId: string, error: unknown): CancelOutcome {
  const status = (error as { status?: number }).status;
  const code = (error as { code?: string }).code ?? (error as { name?: string }).name ?? "internal_error";
  return { runId, outcome: "failed", code, retryable: status === undefined || status >= 500 };
}

function summarize(results: CancelOutcome[]): CancelManyResult {
  const summary = {
    requested: results.length,
    cancelled: 0,
    alreadyCancelled: 0,
    notCancellable: 0,
    notFound: 0,
    failed: 0,
  };
  const key = {
    cancelled: "cancelled",
    already_cancelled: "alreadyCancelled",
    not_cancellable: "notCancellable",
    not_found: "notFound",
    failed: "failed",
  } as const;
  for (const result of results) summary[key[result.outcome]]++;
  return { summary, results };
}

export function createRunsOfSlotLine(
  ready: Promise<Store>,
  spec: SpecVersion,
  get: (id: string, params?: { resolveData?: ResolveData }) => Promise<AnyRun>,
  pollIntervalMs: number,
): RunsOfSlotLine {
  return {
    async getMany(ids, params) {
      if (!Array.isArray(ids)) refuse("getMany takes an array of run ids");
      const executionIds = ids.map((id) => executionIdOf(id));
      const wanted = [...new Set(executionIds.filter((id): id is string => id !== undefined))];
      if (wanted.length > MAX_IDS) refuse(`getMany reads at most ${MAX_IDS} runs at once`);
      if (wanted.length === 0) return ids.map(() => null);
      const store = await ready;
      // One statement, on the primary as runs.get reads: one snapshot of every run asked for.
      const page = await store.primary.executions.list({ ids: wanted, limit: wanted.length });
      const resolveData = params?.resolveData ?? "all";
      const runs = new Map(page.items.map((execution) => [execution.id, execution]));
      return executionIds.map((id) => {
        const execution = id === undefined ? undefined : runs.get(id);
        return execution ? toRun(execution, resolveData) : null;
      });
    },

    async cancelMany(request) {
      const runIds = (request as CancelManyRequest | undefined)?.runIds;
      if (!Array.isArray(runIds) || runIds.length === 0) refuse("cancelMany needs runIds, a non-empty array");
      if (runIds.length > MAX_IDS) refuse(`cancelMany cancels at most ${MAX_IDS} runs at once`);
      if (new Set(runIds).size !== runIds.length) refuse("cancelMany's runIds must not repeat");
      const { cancelReason } = request;
      if (cancelReason !== undefined && typeof cancelReason !== "string") {
        refuse("cancelReason must be a string");
      }
      const store = await ready;
      // One transaction per run, as the single cancel: a run that fails is reported, the others stand.
      const results: CancelOutcome[] = new Array(runIds.length);
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < runIds.length; i = next++) {
          const runId = runIds[i] as string;
          results[i] = await cancelAndAnnounce(store, runId, spec, cancelReason).catch((error: unknown) =>
            failedOutcome(runId, error),
          );
        }
      };
      await Promise.all(Array.from({ length: Math.min(CANCELS_AT_ONCE, runIds.length) }, worker));
      return summarize(results);
    },

    /**
     * Reads the run until it has ended or the budget is spent, then answers with what it read; a
     * missing run fails as get does. Between reads it sleeps the World's poll interval, cut short when
     * a World of this process ends the run: flowstore sends no NOTIFY when a World's run ends (its
     * writes append to the history without one), so a run ended by another process is seen at the next
     * read, and a wake-up missed costs one interval at most, never the answer.
     */
    async waitForTerminalStatus(id, params = {}) {
      const asked = params.timeoutMs;
      const budget = typeof asked === "number" && asked > 0 ? Math.min(asked, MAX_WAIT_MS) : 0;
      const deadline = Date.now() + budget;
      for (;;) {
        const run = await get(
          id,
          params.resolveData === undefined ? {} : { resolveData: params.resolveData },
        );
        const left = deadline - Date.now();
        if (isTerminal(run.status) || left <= 0 || params.signal?.aborted) return run;
        // get() found the run, so its id is one.
        await pause(executionIdOf(id) ?? id, Math.min(left, pollIntervalMs), params.signal);
      }
    },
  };
}
