/** `world.runs`, `world.steps` and `world.hooks`: reads of executions, tasks and signals. */

import type { Hook, PaginatedResponse, Step, Storage, WorkflowRun } from "@workflow/world";
import { NotFoundError, type Page, type Store } from "../../index.js";
import type { AttributeChange } from "./attributes.js";
import {
  type HookOwner,
  hookFields,
  type ResolveData,
  runFields,
  toHook,
  toRun,
  toStep,
} from "./entities.js";
import { HookNotFoundError, WorkflowRunNotFoundError, WorkflowWorldError } from "./errors.js";
import { signalToken } from "./hook-tokens.js";
import { executionIdOf, taskExecIdOf } from "./ids.js";
import { setAttributes } from "./run-events.js";
import type { SpecVersion } from "./spec.js";

/** A page size the SDK asked for, between 1 and 1,000. */
export function limitOf(pagination: { limit?: number } | undefined, fallback: number): number {
  return Math.min(Math.max(pagination?.limit ?? fallback, 1), 1000);
}

/**
 * The cursor of a list call, or null for the first page: the SDK's CLI sends an empty string when it
 * has none (`workflow inspect runs`), on both lines.
 */
export function cursorOf(pagination: { cursor?: string | null } | undefined): string | null {
  return pagination?.cursor || null;
}

/** The spec of a run's runtime, for its steps; `fallback` (the World's) when the run is gone. */
async function runSpec(store: Store, executionId: string, fallback: number): Promise<number> {
  try {
    return runFields(await store.executions.get(executionId)).specVersion ?? fallback;
  } catch (error) {
    if (error instanceof NotFoundError) return fallback;
    throw error;
  }
}

/** A store page as the SDK's paginated response, each item converted by `convert`. */
function paginated<Item, Entity>(
  page: Page<Item>,
  convert: (item: Item) => Entity,
): PaginatedResponse<Entity> {
  return { data: page.items.map(convert), cursor: page.nextCursor, hasMore: page.nextCursor !== null };
}

export function createRuns(ready: Promise<Store>, spec: SpecVersion): Storage["runs"] {
  return {
    async get(runId: string, params?: { resolveData?: ResolveData }) {
      const executionId = executionIdOf(runId);
      if (!executionId) throw new WorkflowRunNotFoundError(runId);
      const store = await ready;
      try {
        return toRun(await store.executions.get(executionId), params?.resolveData ?? "all");
      } catch (error) {
        if (error instanceof NotFoundError) throw new WorkflowRunNotFoundError(runId);
        throw error;
      }
    },

    async list(params = {}): Promise<PaginatedResponse<WorkflowRun>> {
      const store = await ready;
      const page = await store.executions.list({
        ...(params.workflowName === undefined ? {} : { definitionName: params.workflowName }),
        ...(params.status === undefined ? {} : { status: params.status }),
        order: params.pagination?.sortOrder ?? "desc",
        limit: limitOf(params.pagination, 20),
        cursor: cursorOf(params.pagination),
      });
      return paginated(page, (execution) => toRun(execution, params.resolveData ?? "all"));
    },

    async experimentalSetAttributes(
      runId: string,
      changes: AttributeChange[],
      options?: { allowReservedAttributes?: boolean },
    ) {
      const executionId = executionIdOf(runId);
      if (!executionId) throw new WorkflowRunNotFoundError(runId);
      const store = await ready;
      const run = await store.transaction((tx) =>
        setAttributes(
          { scope: tx, runId, executionId, request: { eventType: "attr_set" }, resolveData: "none", spec },
          changes,
          options?.allowReservedAttributes === true,
        ),
      );
      return { attributes: runFields(run).attributes ?? {} };
    },
  } as Storage["runs"];
}

export function createSteps(ready: Promise<Store>, spec: number): Storage["steps"] {
  return {
    async get(runId: string | undefined, stepId: string, params?: { resolveData?: ResolveData }) {
      // A step is found by its run (4.x's `workflow inspect step <id>` passes none).
      if (runId === undefined || runId === null) {
        throw new WorkflowWorldError(`Step not found: ${stepId} (this World finds a step by its run id)`, {
          status: 404,
        });
      }
      const executionId = executionIdOf(runId);
      const store = await ready;
      try {
        if (executionId) {
          const task = await store.tasks.get(taskExecIdOf(executionId, "step", stepId));
          return toStep(task, params?.resolveData ?? "all", await runSpec(store, executionId, spec));
        }
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
      }
      throw new WorkflowWorldError(`Step not found: ${stepId}`, { status: 404 });
    },

    async list(params: {
      runId: string;
      pagination?: { limit?: number; cursor?: string; sortOrder?: "asc" | "desc" };
      resolveData?: ResolveData;
    }) {
      const executionId = executionIdOf(params.runId);
      if (!executionId) return { data: [], cursor: null, hasMore: false };
      const store = await ready;
      const page = await store.tasks.list({
        executionId,
        executionType: "step",
        // Newest first unless asked, as world-postgres lists steps (by their time-ordered ids).
        order: params.pagination?.sortOrder ?? "desc",
        limit: limitOf(params.pagination, 20),
        cursor: cursorOf(params.pagination),
      });
      const stepSpec = page.items.length ? await runSpec(store, executionId, spec) : spec;
      return paginated(page, (task): Step => toStep(task, params.resolveData ?? "all", stepSpec));
    },
  } as Storage["steps"];
}

export function createHooks(ready: Promise<Store>, owner: HookOwner): Storage["hooks"] {
  return {
    async get(hookId: string, params?: { resolveData?: ResolveData }) {
      const store = await ready;
      // The hook_created event names the run and the token; the signal says whether it is still live.
      const created = await store.events.byCorrelation(hookId, { limit: 10 });
      for (const event of created.items) {
        if (event.type !== "hook_created") continue;
        const token = (event.payload as { d?: { token?: string } } | null)?.d?.token;
        const signal = token === undefined ? null : await store.signals.get(signalToken(token));
        if (signal && signal.executionId === event.executionId && hookFields(signal).hookId === hookId) {
          return toHook(signal, owner, params?.resolveData);
        }
      }
      throw new HookNotFoundError(hookId);
    },

    async getByToken(token: string, params?: { resolveData?: ResolveData }) {
      const store = await ready;
      const signal = await store.signals.get(signalToken(token));
      if (!signal) throw new HookNotFoundError(token);
      return toHook(signal, owner, params?.resolveData);
    },

    async list(params: {
      runId?: string;
      pagination?: { limit?: number; cursor?: string; sortOrder?: "asc" | "desc" };
      resolveData?: ResolveData;
    }) {
      // Without a runId, the hooks of every run: the SDK's inspector and CLI list them so.
      const executionId = params.runId === undefined ? null : executionIdOf(params.runId);
      if (executionId === undefined) return { data: [], cursor: null, hasMore: false };
      const store = await ready;
      // Oldest first unless asked, as world-postgres orders its hooks (by their time-ordered ids).
      const page = await store.signals.listAll({
        ...(executionId === null ? {} : { executionId }),
        order: params.pagination?.sortOrder ?? "asc",
        limit: limitOf(params.pagination, 100),
        cursor: cursorOf(params.pagination),
      });
      return paginated(page, (signal): Hook => toHook(signal, owner, params.resolveData ?? "all"));
    },
  } as Storage["hooks"];
}
