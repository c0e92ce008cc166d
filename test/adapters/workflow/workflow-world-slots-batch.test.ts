/**
 * The slot line's batches and stream write sessions, on the World directly, through @workflow/world
 * 5.0.0-beta.37's types (the alias @workflow/world-slots): a batch lands its events at consecutive
 * positions in one transaction, each answered as its single create would have been; a step created and
 * started in one batch is born running; a refused event is dropped and leaves nothing behind; what a
 * batch cannot express refuses it whole, with nothing written. A write session keeps its writer's order.
 */
import type { BatchEventRequest, World as SlotsWorld } from "@workflow/world-slots";
import { describe, expect, it } from "vitest";
import { createWorld } from "../../../src/adapters/workflow/index.js";
import { forEachDriver } from "../../support/harness.js";
import { newRunId, startedSlotRun } from "../../support/workflow-world-fixtures.js";

const bytes = (...values: number[]) => new Uint8Array(values);
const text = (chunk: Uint8Array | undefined) => new TextDecoder().decode(chunk);
const slot = (n: number) => `evnt_${String(n).padStart(26, "0")}`;

const stepCreated = (id: string, input = bytes(1)) => ({
  event: { eventType: "step_created", correlationId: id, eventData: { stepName: "s", input } },
});
const stepStarted = (id: string, eventData: Record<string, unknown> = { stepName: "s" }) => ({
  event: { eventType: "step_started", correlationId: id, eventData },
});
const waitCreated = (id: string) => ({
  event: {
    eventType: "wait_created",
    correlationId: id,
    eventData: { resumeAt: new Date(Date.now() + 60_000) },
  },
});
const batch = (...items: object[]) => items as BatchEventRequest[];

forEachDriver((driver) => {
  describe("the slot line's batches and write sessions", () => {
    async function world(): Promise<SlotsWorld> {
      const store = await driver.open();
      return createWorld({
        store,
        specVersion: 7,
        pollIntervalMs: 50,
        autoStart: false,
      }) as unknown as SlotsWorld;
    }

    /** A started run (its events at positions 1 and 2), and the World's createBatch. */
    async function started(w: SlotsWorld) {
      const runId = await startedSlotRun(w);
      const createBatch = w.events.createBatch?.bind(w.events);
      if (!createBatch) throw new Error("createBatch missing");
      return { runId, createBatch };
    }

    async function log(w: SlotsWorld, runId: string) {
      return (await w.events.list({ runId, pagination: {} })).data.map((e) => [
        e.eventId,
        e.eventType,
        e.correlationId,
      ]);
    }

    it("lands a fan-out at consecutive positions, each with the entity its single create returns", async () => {
      const w = await world();
      const { runId, createBatch } = await started(w);
      const { results } = await createBatch(
        runId,
        batch(stepCreated("a"), stepCreated("b"), waitCreated("w")),
      );
      expect(results.map((r) => [r.status, r.event?.eventId, r.event?.eventType])).toEqual([
        [200, slot(3), "step_created"],
        [200, slot(4), "step_created"],
        [200, slot(5), "wait_created"],
      ]);
      expect(results[0]).toMatchObject({ step: { stepId: "a", status: "pending", input: bytes(1) } });
      expect(results[2]?.wait).toMatchObject({ status: "waiting" });
      expect(await log(w, runId)).toEqual([
        [slot(1), "run_created", undefined],
        [slot(2), "run_started", undefined],
        [slot(3), "step_created", "a"],
        [slot(4), "step_created", "b"],
        [slot(5), "wait_created", "w"],
      ]);
      // Steps and the run's end go in a batch too.
      await w.events.create(runId, { eventType: "step_started", correlationId: "a" } as never);
      const end = await createBatch(
        runId,
        batch(
          { event: { eventType: "step_completed", correlationId: "a", eventData: { result: bytes(5) } } },
          { event: { eventType: "run_completed", eventData: { output: bytes(6) } } },
        ),
        { resolveData: "none" },
      );
      expect(end.results.map((r) => r.status)).toEqual([200, 200]);
      expect(end.results[0]?.step).toMatchObject({ status: "completed" });
      expect(end.results[0]?.step?.output).toBeUndefined();
      expect(end.results[1]?.run).toMatchObject({ status: "completed" });
    });

    it("creates a step born running from a step_created and step_started pair, claimed once", async () => {
      const w = await world();
      const { runId, createBatch } = await started(w);
      const pairs = batch(
        stepCreated("p", bytes(4)),
        stepStarted("p", { stepName: "s", ownerMessageId: "msg_1" }),
        stepCreated("q"),
        stepStarted("q"),
      );
      const { results } = await createBatch(runId, pairs);
      expect(results.map((r) => [r.status, r.event?.eventType, r.event?.eventId])).toEqual([
        [200, "step_created", slot(3)],
        [200, "step_started", slot(4)],
        [200, "step_created", slot(5)],
        [200, "step_started", slot(6)],
      ]);
      expect(results[1]?.step).toMatchObject({ stepId: "p", status: "running", attempt: 1, input: bytes(4) });
      expect(results[1]?.step?.startedAt).toBeInstanceOf(Date);
      expect(await w.steps.get(runId, "p")).toMatchObject({ status: "running", attempt: 1, input: bytes(4) });
      const events = (await w.events.list({ runId, pagination: {} })).data;
      expect(events[2]?.eventData).toMatchObject({ stepName: "s", input: bytes(4) });
      expect(events[3]?.eventData).toMatchObject({ ownerMessageId: "msg_1" });
      // The same pair again (a second invocation): the claim is lost on both rows, nothing written.
      const again = await createBatch(runId, batch(stepCreated("p"), stepStarted("p")));
      expect(again.results.map((r) => [r.status, r.error])).toEqual([
        [409, "conflict"],
        [409, "conflict"],
      ]);
      expect(await log(w, runId)).toHaveLength(6);
    });

    it("drops an event its single create would refuse, commits the others, and leaves no hole", async () => {
      const w = await world();
      const { runId, createBatch } = await started(w);
      await createBatch(runId, batch(stepCreated("a"), stepCreated("b")));
      const { results } = await createBatch(
        runId,
        batch(
          stepCreated("c"),
          stepCreated("a"),
          { event: { eventType: "wait_completed", correlationId: "nowhere" } },
          stepCreated("d"),
        ),
      );
      expect(results.map((r) => [r.status, r.error ?? r.event?.eventId])).toEqual([
        [200, slot(5)],
        [409, "conflict"],
        [404, "not_found"],
        [200, slot(6)],
      ]);
      expect(results[1]?.message).toMatch(/a/);
      expect(await log(w, runId)).toEqual([
        [slot(1), "run_created", undefined],
        [slot(2), "run_started", undefined],
        [slot(3), "step_created", "a"],
        [slot(4), "step_created", "b"],
        [slot(5), "step_created", "c"],
        [slot(6), "step_created", "d"],
      ]);
      // On an ended run, every create is refused as its single create is, and nothing is written.
      await w.events.create(runId, { eventType: "run_cancelled" } as never);
      const late = await createBatch(runId, batch(stepCreated("e"), waitCreated("w")));
      expect(late.results.map((r) => r.status)).toEqual([409, 409]);
      expect(await log(w, runId)).toHaveLength(7);
    });

    it("refuses a batch it cannot express, or of an unknown run, whole, with nothing written", async () => {
      const w = await world();
      const { runId, createBatch } = await started(w);
      const refused = [
        batch(),
        batch(stepCreated("a"), { event: { eventType: "run_cancelled" } }),
        batch(stepCreated("a"), {
          event: { eventType: "hook_created", correlationId: "h", eventData: { token: "t" } },
        }),
        batch({ event: { eventType: "hook_disposed", correlationId: "h" } }),
        batch({ event: { eventType: "attr_set", eventData: { changes: [] } } }),
        batch({ event: { eventType: "run_started" } }),
        // Two writes of one step that are not the born-running pair, or of the run.
        batch(stepCreated("a"), { event: { eventType: "step_completed", correlationId: "a" } }),
        batch(stepStarted("a"), stepCreated("a")),
        batch(
          { event: { eventType: "run_completed", eventData: { output: bytes(1) } } },
          { event: { eventType: "run_failed", eventData: { error: bytes(1) } } },
        ),
        // A step_started carrying its input.
        batch(stepCreated("a"), stepStarted("a", { stepName: "s", input: bytes(1) })),
        batch({ event: { eventType: "no_such_event" } }),
        batch({ event: { eventType: "constructor" } }),
        batch({ nothing: true }),
        Array.from({ length: 101 }, (_, i) => stepCreated(`s${i}`)) as BatchEventRequest[],
      ];
      for (const events of refused) {
        await expect(createBatch(runId, events)).rejects.toMatchObject({
          name: "WorkflowWorldError",
          status: 400,
        });
      }
      for (const unknown of [newRunId(), "not-a-run"]) {
        await expect(createBatch(unknown, batch(stepCreated("a")))).rejects.toMatchObject({
          name: "WorkflowRunNotFoundError",
        });
      }
      expect(await log(w, runId)).toHaveLength(2);
      expect((await w.steps.list({ runId })).data).toEqual([]);
    });

    it("keeps each of two racing batches at consecutive positions", async () => {
      const w = await world();
      const { runId, createBatch } = await started(w);
      const [one, two] = await Promise.all(
        ["x", "y"].map((prefix) =>
          createBatch(runId, batch(...Array.from({ length: 5 }, (_, i) => stepCreated(`${prefix}${i}`)))),
        ),
      );
      for (const result of [one, two]) {
        const positions = result?.results.map((r) => Number(r.event?.eventId.slice(5))) ?? [];
        expect(positions).toHaveLength(5);
        expect(positions.map((p) => p - (positions[0] as number))).toEqual([0, 1, 2, 3, 4]);
      }
      expect((await log(w, runId)).map((e) => e[0])).toEqual(
        Array.from({ length: 12 }, (_, i) => slot(i + 1)),
      );
    });

    it("writes a session's groups in its order, skips a retried group, refuses a hole and closes", async () => {
      const w = await world();
      const runId = newRunId();
      const session = w.streams.createWriteSession?.(runId, "out", { writerId: "wrtr_1" });
      if (!session) throw new Error("createWriteSession missing");
      // Not awaited one by one: the session still writes them in the order called.
      await Promise.all([
        session.write(0, ["a", "b"]),
        session.write(2, [bytes(99)]),
        session.write(3, ["d", "e", "f"]),
      ]);
      // A group sent again after it was written (a retry): its written chunks are not written twice.
      await session.write(5, ["f", "g"]);
      await expect(session.write(9, ["z"])).rejects.toMatchObject({
        name: "WorkflowWorldError",
        status: 400,
      });
      await session.close();
      await session.dispose?.();
      const page = await w.streams.getChunks(runId, "out", { limit: 100 });
      expect(page.data.map((c) => text(c.data))).toEqual(["a", "b", "c", "d", "e", "f", "g"]);
      expect(page.done).toBe(true);
      expect(await w.streams.getInfo(runId, "out")).toEqual({ tailIndex: 6, done: true });
      // Two writers' sessions on two streams of one run.
      const other = w.streams.createWriteSession?.(runId, "log", { writerId: "wrtr_2" });
      await other?.write(0, ["1"]);
      expect(await w.streams.list(runId)).toEqual(expect.arrayContaining(["out", "log"]));
    });
  });
});
