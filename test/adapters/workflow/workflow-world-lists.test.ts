/**
 * The World's lists as the SDK's tooling pages them: the hooks of every run or of one, and the steps
 * of a run, in the order asked (each list's default is world-postgres's), a page at a time with cursors
 * that go on in that order.
 */
import { describe, expect, it } from "vitest";
import { createWorld, type FlowstoreWorld } from "../../../src/adapters/workflow/index.js";
import type { Store } from "../../../src/index.js";
import { expectNoSeqScan, openRecording } from "../../support/explain.js";
import { forEachDriver } from "../../support/harness.js";
import { nextMillisecond } from "../../support/waiting.js";
import { created, newRunId } from "../../support/workflow-world-fixtures.js";

type Order = "asc" | "desc";
type Lister = (pagination: { limit: number; sortOrder?: Order; cursor?: string }) => Promise<{
  data: unknown[];
  cursor: string | null;
  hasMore: boolean;
}>;

/** Every page of a list, each as the ids `idOf` reads from its items. */
async function pages(list: Lister, idOf: (item: never) => string, limit: number, sortOrder?: Order) {
  const all: string[][] = [];
  let cursor: string | undefined;
  do {
    const page = await list({ limit, cursor, ...(sortOrder ? { sortOrder } : {}) });
    all.push(page.data.map((item) => idOf(item as never)));
    cursor = page.hasMore ? (page.cursor as string) : undefined;
  } while (cursor);
  return all;
}

/** 50,000 running executions, each holding one hook's token, claimed a second after the last. */
async function fillSignals(store: Store): Promise<void> {
  const s = `"${store.schema}"`;
  const { rows } = await store.query<{ id: string }>(
    `insert into ${s}.definitions (id, name, version, definition, status)
     values (gen_random_uuid(), 'bulk', 1, '{}', 'active') returning id`,
  );
  await store.query(
    `insert into ${s}.executions (id, definition_id, name, status)
     select gen_random_uuid(), $1, 'bulk', 'running' from generate_series(1, 50000)`,
    [rows[0]?.id],
  );
  await store.query(
    `insert into ${s}.signals (token, execution_id, metadata, created_at)
     select 'token-' || id, id, jsonb_build_object('hookId', 'hook-' || id),
            now() - row_number() over (order by id) * interval '1 second'
       from ${s}.executions`,
  );
  await store.query(`analyze ${s}.executions, ${s}.signals`);
}

const hookId = (hook: { hookId: string }) => hook.hookId;
const stepId = (step: { stepId: string }) => step.stepId;

forEachDriver((driver) => {
  describe("the World's lists", () => {
    async function world(): Promise<FlowstoreWorld> {
      return createWorld({ store: await driver.open() });
    }

    async function hook(w: FlowstoreWorld, runId: string, id: string, token: string): Promise<void> {
      await nextMillisecond(); // hooks are listed by the time they were made
      await w.events.create(runId, { eventType: "hook_created", correlationId: id, eventData: { token } });
    }

    it("lists the live hooks of every run in the order they were made, either way, a page at a time", async () => {
      const w = await world();
      const [a, b, gone] = [newRunId(), newRunId(), newRunId()];
      for (const runId of [a, b, gone]) await w.events.create(runId, created());
      // Tokens in the reverse of the order the hooks are made, so that token order would show.
      await hook(w, a, "hook_1", "tok-z");
      await hook(w, gone, "hook_x", "tok-y");
      await hook(w, b, "hook_2", "tok-x");
      await hook(w, a, "hook_3", "tok-w");
      await w.events.create(gone, { eventType: "run_cancelled" });

      const everyRun: Lister = (pagination) => w.hooks.list({ pagination });
      expect(await pages(everyRun, hookId, 2)).toEqual([["hook_1", "hook_2"], ["hook_3"]]);
      expect(await pages(everyRun, hookId, 2, "asc")).toEqual([["hook_1", "hook_2"], ["hook_3"]]);
      expect(await pages(everyRun, hookId, 2, "desc")).toEqual([["hook_3", "hook_2"], ["hook_1"]]);
      const all = await w.hooks.list({ resolveData: "none" });
      expect(all.data.map((h) => [h.runId, h.token])).toEqual([
        [a, "tok-z"],
        [b, "tok-x"],
        [a, "tok-w"],
      ]);
      expect(all.hasMore).toBe(false);

      const oneRun: Lister = (pagination) => w.hooks.list({ runId: a, pagination });
      expect(await pages(oneRun, hookId, 1)).toEqual([["hook_1"], ["hook_3"]]);
      expect(await pages(oneRun, hookId, 1, "desc")).toEqual([["hook_3"], ["hook_1"]]);
      expect((await w.hooks.list({ runId: gone })).data).toEqual([]);
      await expect(w.hooks.list({ pagination: { cursor: "not-ours" } })).rejects.toMatchObject({
        name: "WorkflowWorldError",
        status: 400,
      });
    });

    it("lists a run's steps newest first unless asked otherwise, a page at a time either way", async () => {
      const w = await world();
      const runId = newRunId();
      await w.events.create(runId, created());
      for (const id of ["step_1", "step_2", "step_3"]) {
        await w.events.create(runId, {
          eventType: "step_created",
          correlationId: id,
          eventData: { stepName: "n", input: new Uint8Array([1]) },
        });
      }
      const steps: Lister = (pagination) => w.steps.list({ runId, pagination });
      expect(await pages(steps, stepId, 2)).toEqual([["step_3", "step_2"], ["step_1"]]);
      expect(await pages(steps, stepId, 2, "desc")).toEqual([["step_3", "step_2"], ["step_1"]]);
      expect(await pages(steps, stepId, 2, "asc")).toEqual([["step_1", "step_2"], ["step_3"]]);
    });
  });

  describe.skipIf(!driver.concurrent)("hook list indexes", () => {
    it("pages the hooks of every run through an index in either order, never sorting 50,000", async () => {
      const { store, plansOf } = await openRecording(driver, (sql) => /\.signals s\b/.test(sql));
      await fillSignals(store);
      const w = createWorld({ store });
      const first = await w.hooks.list({ pagination: { limit: 20, sortOrder: "desc" } });
      const calls: [string, () => Promise<unknown>][] = [
        ["oldest first", () => w.hooks.list({ pagination: { limit: 20 } })],
        ["newest first", () => w.hooks.list({ pagination: { limit: 20, sortOrder: "desc" } })],
        [
          "newest first, the next page",
          () =>
            w.hooks.list({ pagination: { limit: 20, sortOrder: "desc", cursor: first.cursor as string } }),
        ],
      ];
      for (const [what, call] of calls) {
        for (const plan of await plansOf(call)) {
          const name = `${what} (plan ${plan.kind})`;
          expectNoSeqScan(plan, name);
          expect
            .soft(
              plan.nodes.map((n) => n["Node Type"]),
              `${name}: ${plan.shown}`,
            )
            .not.toContain("Sort");
          const indexed = plan.nodes.some((n) => n["Index Name"] === "signals_claimed");
          expect.soft(indexed, `${name} uses signals_claimed: ${plan.shown}`).toBe(true);
        }
      }
    });
  });
});
