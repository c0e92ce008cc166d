/**
 * The rules `events.create` keeps, checked on the World directly (no runtime): each event changes its
 * entity and joins the run's history in one transaction, and what may not happen is refused by the
 * error the runtime expects.
 */
import { describe, expect, it } from "vitest";
import { createWorld, type FlowstoreWorld } from "../../../src/adapters/workflow/index.js";
import { forEachDriver } from "../../support/harness.js";
import { statementLog } from "../../support/waiting.js";
import { created, newRunId } from "../../support/workflow-world-fixtures.js";

const bytes = (...values: number[]) => new Uint8Array(values);

async function rejection(promise: Promise<unknown>): Promise<{ name: string; retryAfter?: number }> {
  return promise.then(
    () => ({ name: "(resolved)" }),
    (error: { name: string; retryAfter?: number }) => error,
  );
}

forEachDriver((driver) => {
  describe("the World's events", () => {
    async function world(): Promise<FlowstoreWorld> {
      return createWorld({ store: await driver.open() });
    }

    it("creates a run once, and starts it (or makes it, from the queue's data) in one event", async () => {
      const w = await world();
      const runId = newRunId();
      const { run, event } = await w.events.create(runId, created("wf", { team: "a" }));
      expect(run).toMatchObject({ runId, status: "pending", workflowName: "wf", deploymentId: "d1" });
      expect(run?.input).toEqual(bytes(1, 0, 2));
      expect(event).toMatchObject({ runId, eventType: "run_created" });
      expect((await rejection(w.events.create(runId, created()))).name).toBe("EntityConflictError");
      expect((await rejection(w.events.create(newRunId(), created("wf", { $x: "1" })))).name).toBe(
        "AttributeValidationError",
      );

      const started = await w.events.create(runId, { eventType: "run_started", specVersion: 5 });
      expect(started.run).toMatchObject({ status: "running", attributes: { team: "a" } });
      expect(started.events?.map((e) => e.eventType)).toEqual(["run_created", "run_started"]);
      expect(started.hasMore).toBe(false);
      // Started already: the run comes back, and no second run_started is written.
      expect(await w.events.create(runId, { eventType: "run_started", specVersion: 5 })).toEqual({
        run: expect.objectContaining({ status: "running" }),
      });

      const early = newRunId();
      const made = await w.events.create(early, {
        eventType: "run_started",
        specVersion: 5,
        eventData: created("early").eventData,
      });
      expect(made.run).toMatchObject({ runId: early, status: "running", workflowName: "early" });
      expect(made.events?.map((e) => e.eventType)).toEqual(["run_created", "run_started"]);
      expect((await rejection(w.events.create(newRunId(), { eventType: "run_started" }))).name).toBe(
        "WorkflowRunNotFoundError",
      );
    });

    it("reads a started run at each later run_started (4.x sends one per delivery): one statement", async () => {
      const log = statementLog();
      const w = createWorld({ store: await driver.open({ logger: log, logStatements: true }) });
      const runId = newRunId();
      await w.events.create(runId, created("wf"));
      await w.events.create(runId, { eventType: "run_started", specVersion: 5 });
      log.sql.length = 0;
      expect(await w.events.create(runId, { eventType: "run_started", specVersion: 5 })).toEqual({
        run: expect.objectContaining({ runId, status: "running" }),
      });
      // Not a start that fails, then a transaction that finds the run running: one read, no BEGIN.
      expect(log.sql).toHaveLength(1);
      expect(log.sql[0]).toMatch(/^\s*select\b/i);
      const { data } = await w.events.list({ runId, pagination: {} });
      expect(data.map((e) => e.eventType)).toEqual(["run_created", "run_started"]);
    });

    it("a finished run takes no new step, hook or wait, and does not start or finish again", async () => {
      const w = await world();
      const runId = newRunId();
      await w.events.create(runId, created());
      const done = await w.events.create(runId, {
        eventType: "run_completed",
        eventData: { output: bytes(9) },
      });
      expect(done.run).toMatchObject({ status: "completed", output: bytes(9) });
      const refused = [
        { eventType: "step_created", correlationId: "s1", eventData: { stepName: "a", input: bytes() } },
        { eventType: "hook_created", correlationId: "h1", eventData: { token: "t" } },
        { eventType: "wait_created", correlationId: "w1", eventData: { resumeAt: new Date() } },
        { eventType: "run_failed", eventData: { error: bytes() } },
        { eventType: "run_cancelled" },
      ] as const;
      for (const request of refused) {
        expect((await rejection(w.events.create(runId, request as never))).name).toBe("EntityConflictError");
      }
      expect((await rejection(w.events.create(runId, { eventType: "run_started" }))).name).toBe(
        "RunExpiredError",
      );
      const cancelled = newRunId();
      await w.events.create(cancelled, created());
      await w.events.create(cancelled, { eventType: "run_cancelled" });
      const again = await w.events.create(cancelled, { eventType: "run_cancelled" });
      expect(again.run?.status).toBe("cancelled");
      const types = (await w.events.list({ runId: cancelled })).data.map((e) => e.eventType);
      expect(types).toEqual(["run_created", "run_cancelled", "run_cancelled"]);
    });

    it("a step is created once however many invocations race for it, and keeps its first start", async () => {
      const w = await world();
      const runId = newRunId();
      await w.events.create(runId, created());
      await w.events.create(runId, { eventType: "run_started" });
      const lazyStart = {
        eventType: "step_started",
        correlationId: "step_1",
        eventData: { stepName: "add", input: bytes(4) },
      };
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () => w.events.create(runId, lazyStart as never)),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      expect(won).toHaveLength(1);
      expect((won[0] as PromiseFulfilledResult<{ stepCreated?: boolean }>).value.stepCreated).toBe(true);
      for (const r of results) {
        if (r.status === "rejected") expect((r.reason as Error).name).toBe("EntityConflictError");
      }
      const first = await w.steps.get(runId, "step_1");
      expect(first).toMatchObject({ status: "running", attempt: 1, stepName: "add", input: bytes(4) });

      const retryAfter = new Date(Date.now() + 60_000);
      await w.events.create(runId, {
        eventType: "step_retrying",
        correlationId: "step_1",
        eventData: { error: bytes(7), retryAfter },
      });
      const tooEarly = await rejection(
        w.events.create(runId, { eventType: "step_started", correlationId: "step_1" }),
      );
      expect(tooEarly.name).toBe("TooEarlyError");
      expect(tooEarly.retryAfter).toBeGreaterThan(50);
      await w.events.create(runId, {
        eventType: "step_retrying",
        correlationId: "step_1",
        eventData: { error: bytes(7) },
      });
      const second = await w.events.create(runId, { eventType: "step_started", correlationId: "step_1" });
      expect(second.step).toMatchObject({ status: "running", attempt: 2, startedAt: first.startedAt });
      const completed = {
        eventType: "step_completed",
        correlationId: "step_1",
        eventData: { result: bytes(5) },
      };
      expect((await w.events.create(runId, completed as never)).step).toMatchObject({
        status: "completed",
        output: bytes(5),
      });
      expect((await rejection(w.events.create(runId, completed as never))).name).toBe("EntityConflictError");
      expect(
        (await rejection(w.events.create(runId, { eventType: "step_started", correlationId: "nope" }))).name,
      ).toBe("WorkflowWorldError");
      const types = (await w.events.list({ runId })).data.map((e) => e.eventType);
      expect(types).toEqual([
        "run_created",
        "run_started",
        "step_created",
        "step_started",
        "step_retrying",
        "step_retrying",
        "step_started",
        "step_completed",
      ]);
    });

    it("a step that never started takes no start or outcome once its run ended, and nothing is written", async () => {
      const store = await driver.open();
      const w = createWorld({ store });
      const rowsOf = async (runId: string) => ({
        tasks: (
          await store.query(
            `select task_id, status, version, output, error, completed_at from "${store.schema}".tasks
              order by task_id`,
          )
        ).rows,
        history: (await w.events.list({ runId, pagination: { limit: 100 } })).data,
      });
      const ends = [
        { eventType: "run_cancelled" },
        { eventType: "run_completed", eventData: { output: bytes() } },
        { eventType: "run_failed", eventData: { error: bytes() } },
      ];
      for (const end of ends) {
        const runId = newRunId();
        await w.events.create(runId, created());
        await w.events.create(runId, { eventType: "run_started" });
        for (const id of ["never", "ran"]) {
          await w.events.create(runId, {
            eventType: "step_created",
            correlationId: id,
            eventData: { stepName: "n", input: bytes(1) },
          });
        }
        await w.events.create(runId, { eventType: "step_started", correlationId: "ran" });
        await w.events.create(runId, end as never);
        const before = await rowsOf(runId);
        const late = [
          { eventType: "step_completed", correlationId: "never", eventData: { result: bytes(2) } },
          { eventType: "step_failed", correlationId: "never", eventData: { error: bytes(3) } },
          { eventType: "step_started", correlationId: "never" },
        ];
        for (const request of late) {
          const refused = await rejection(w.events.create(runId, request as never));
          expect(refused.name, `${request.eventType} after ${end.eventType}`).toBe("RunExpiredError");
        }
        expect(await rowsOf(runId)).toEqual(before);
        // A step that was running when its run ended still takes its outcome.
        const done = { eventType: "step_completed", correlationId: "ran", eventData: { result: bytes(4) } };
        expect((await w.events.create(runId, done as never)).step?.status).toBe("completed");
      }
      // While the run is live, a step may fail before it starts (the runtime does so for a step it cannot run).
      const live = newRunId();
      await w.events.create(live, created());
      await w.events.create(live, {
        eventType: "step_created",
        correlationId: "s",
        eventData: { stepName: "n", input: bytes(1) },
      });
      const failed = { eventType: "step_failed", correlationId: "s", eventData: { error: bytes(5) } };
      expect((await w.events.create(live, failed as never)).step?.status).toBe("failed");
    });

    it("a hook token is held by one live run: another gets hook_conflict; it is free once disposed", async () => {
      const w = await world();
      const [a, b] = [newRunId(), newRunId()];
      for (const runId of [a, b]) await w.events.create(runId, created());
      const hook = {
        eventType: "hook_created",
        correlationId: "hook_a",
        eventData: { token: "tok", metadata: bytes(3) },
      };
      const made = await w.events.create(a, hook as never);
      expect(made.hook).toMatchObject({ runId: a, hookId: "hook_a", token: "tok", metadata: bytes(3) });
      expect((await rejection(w.events.create(a, hook as never))).name).toBe("EntityConflictError");
      const clash = await w.events.create(b, { ...hook, correlationId: "hook_b" } as never);
      expect(clash.event).toMatchObject({
        eventType: "hook_conflict",
        eventData: { token: "tok", conflictingRunId: a },
      });
      expect(clash.hook).toBeUndefined();

      const received = await w.events.create(a, {
        eventType: "hook_received",
        correlationId: "hook_a",
        eventData: { payload: bytes(8) },
      });
      expect(received.event?.eventData).toEqual({ payload: bytes(8) });
      await w.events.create(a, { eventType: "hook_disposed", correlationId: "hook_a" });
      for (const eventType of ["hook_disposed", "hook_received"]) {
        const request = { eventType, correlationId: "hook_a", eventData: { payload: bytes() } };
        expect((await rejection(w.events.create(a, request as never))).name).toBe("HookNotFoundError");
      }
      expect((await rejection(w.hooks.getByToken("tok"))).name).toBe("HookNotFoundError");
      const retaken = await w.events.create(b, { ...hook, correlationId: "hook_b" } as never);
      expect(retaken.hook).toMatchObject({ runId: b, hookId: "hook_b" });
      expect((await w.hooks.list({ runId: b })).data.map((h) => h.hookId)).toEqual(["hook_b"]);
      // b finishes: its token goes with it.
      await w.events.create(b, { eventType: "run_cancelled" });
      expect((await rejection(w.hooks.get("hook_b"))).name).toBe("HookNotFoundError");
    });

    it("journals no hook event after the hook's disposal or the run's end, however the calls race", async () => {
      const w = await world();
      const receive = (runId: string, hookId: string, n: number) =>
        w.events.create(runId, {
          eventType: "hook_received",
          correlationId: hookId,
          eventData: { payload: bytes(n) },
        } as never);
      const historyOf = async (runId: string) =>
        (await w.events.list({ runId, pagination: { limit: 100 } })).data.map((e) => e.eventType);
      for (let i = 0; i < 12; i++) {
        // Each ender races three payloads: a payload is journaled before the end or refused after it,
        // and a caller is told it was delivered only when it was.
        for (const end of ["hook_disposed", "run_completed", "run_cancelled"] as const) {
          const runId = newRunId();
          await w.events.create(runId, created());
          await w.events.create(runId, { eventType: "run_started", specVersion: 5 });
          await w.events.create(runId, {
            eventType: "hook_created",
            correlationId: "h",
            eventData: { token: `${end}-${i}-${runId}` },
          } as never);
          const ending =
            end === "hook_disposed"
              ? w.events.create(runId, { eventType: end, correlationId: "h" } as never)
              : end === "run_completed"
                ? w.events.create(runId, { eventType: end, eventData: { output: bytes() } } as never)
                : w.events.create(runId, { eventType: end } as never);
          // A hook created as the run ends is made before the end or refused after it.
          const late = w.events.create(runId, {
            eventType: "hook_created",
            correlationId: "late",
            eventData: { token: `late-${end}-${i}-${runId}` },
          } as never);
          const outcomes = await Promise.allSettled([
            ending,
            late,
            receive(runId, "h", 1),
            receive(runId, "h", 2),
            receive(runId, "h", 3),
          ]);
          expect(outcomes[0].status).toBe("fulfilled");
          const history = await historyOf(runId);
          const after = history.slice(history.indexOf(end) + 1);
          // A disposed hook takes nothing more, but the run may still make other hooks.
          expect(end === "hook_disposed" ? after.filter((type) => type !== "hook_created") : after).toEqual(
            [],
          );
          const delivered = outcomes.slice(2).filter((o) => o.status === "fulfilled").length;
          expect(history.filter((type) => type === "hook_received")).toHaveLength(delivered);
          const made = outcomes[1].status === "fulfilled" ? 2 : 1;
          expect(history.filter((type) => type === "hook_created")).toHaveLength(made);
          for (const outcome of outcomes.slice(1)) {
            if (outcome.status === "rejected") {
              expect((outcome.reason as Error).name).toMatch(/^(HookNotFoundError|EntityConflictError)$/);
            }
          }
        }
      }
    });

    it("waits are made once and completed once", async () => {
      const w = await world();
      const runId = newRunId();
      await w.events.create(runId, created());
      const resumeAt = new Date(Date.now() + 1000);
      const wait = await w.events.create(runId, {
        eventType: "wait_created",
        correlationId: "wait_1",
        eventData: { resumeAt },
      });
      expect(wait.wait).toMatchObject({ status: "waiting", resumeAt });
      expect(wait.event?.eventData).toEqual({ resumeAt });
      const again = { eventType: "wait_created", correlationId: "wait_1", eventData: { resumeAt } } as const;
      expect((await rejection(w.events.create(runId, again))).name).toBe("EntityConflictError");
      const done = { eventType: "wait_completed", correlationId: "wait_1" } as const;
      expect((await w.events.create(runId, done)).wait?.status).toBe("completed");
      expect((await rejection(w.events.create(runId, done))).name).toBe("EntityConflictError");
    });
  });
});
