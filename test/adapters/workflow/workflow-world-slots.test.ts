/**
 * The slot line (World specs 6 and 7, workflow 5.0.0-beta.42 and later): an event's id is its position
 * in its run's log, `evnt_` and 26 digits, dense from 1 in commit order, and a write whose runtime held
 * fewer positions than the run has when it commits is never refused: it commits at the next position
 * and reports the events it skipped (bump and report). A run of the slot line is not continued by a
 * World of spec 5, nor one of spec 5 by the slot line.
 */
import { describe, expect, it } from "vitest";
import { createWorld, type FlowstoreWorld } from "../../../src/adapters/workflow/index.js";
import { forEachDriver } from "../../support/harness.js";
import { newRunId } from "../../support/workflow-world-fixtures.js";

const bytes = (...values: number[]) => new Uint8Array(values);
const slot = (n: number) => `evnt_${String(n).padStart(26, "0")}`;
/** What the SDK's runtime checks of every event id it loads (@workflow/world's isSlotBody). */
const SLOT_BODY = /^evnt_0{10}[0-9]{16}$/;

const created = {
  eventType: "run_created" as const,
  eventData: { deploymentId: "d1", workflowName: "wf", input: bytes(1) },
};

forEachDriver((driver) => {
  describe("the slot line", () => {
    async function world(specVersion: 5 | 6 | 7 = 7): Promise<FlowstoreWorld> {
      const store = await driver.open();
      return createWorld({ store, specVersion, pollIntervalMs: 50, autoStart: false });
    }

    it("numbers a run's events by position, dense from 1, and finds each by its id", async () => {
      const w = await world();
      expect(w.specVersion).toBe(7);
      const runId = newRunId();
      const results = [
        await w.events.create(runId, created as never),
        await w.events.create(runId, { eventType: "run_started", specVersion: 7 } as never),
        await w.events.create(runId, {
          eventType: "step_created",
          correlationId: "step_1",
          eventData: { stepName: "s", input: bytes(2) },
        } as never),
        await w.events.create(runId, { eventType: "step_started", correlationId: "step_1" } as never),
      ];
      expect(results.map((r) => r.event?.eventId)).toEqual([1, 2, 3, 4].map(slot));
      expect(results[0]?.run?.specVersion).toBe(7);
      const listed = (await w.events.list({ runId, pagination: {} } as never)).data;
      expect(listed.map((e) => e.eventId)).toEqual([1, 2, 3, 4].map(slot));
      expect(listed.every((e) => SLOT_BODY.test(e.eventId))).toBe(true);
      const third = await w.events.get(runId, slot(3));
      expect(third).toMatchObject({ eventType: "step_created", correlationId: "step_1" });
      await expect(w.events.get(runId, slot(9))).rejects.toMatchObject({ status: 404 });
    });

    it("commits a write whose runtime held fewer positions at the next one, and reports what it skipped", async () => {
      const w = await world();
      const runId = newRunId();
      await w.events.create(runId, created as never);
      await w.events.create(runId, { eventType: "run_started" } as never);
      // Eight writers that each held the log up to position 2 (stale after the first commits).
      const writes = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          w.events.create(
            runId,
            {
              eventType: "step_created",
              correlationId: `step_${i}`,
              eventData: { stepName: "s", input: bytes(i) },
            } as never,
            { eventCount: 2 } as never,
          ),
        ),
      );
      const positions = writes.map((r) => Number(r.event?.eventId.slice(5))).sort((a, b) => a - b);
      expect(positions).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
      for (const result of writes) {
        const at = Number(result.event?.eventId.slice(5));
        const skipped = (result as { events?: { eventId: string }[] }).events;
        if (at === 3) {
          expect(skipped).toBeUndefined();
          continue;
        }
        // Exactly the span between what it held and where it committed, in order, and no cursor.
        expect(skipped?.map((e) => e.eventId)).toEqual(Array.from({ length: at - 3 }, (_, i) => slot(3 + i)));
        expect(result).toMatchObject({ cursor: null, hasMore: false });
      }
      // A write with no eventCount, or one holding every position, reports nothing.
      const plain = await w.events.create(runId, {
        eventType: "step_started",
        correlationId: "step_0",
      } as never);
      expect(plain.event?.eventId).toBe(slot(11));
      expect((plain as { events?: unknown }).events).toBeUndefined();
      const current = await w.events.create(
        runId,
        { eventType: "step_started", correlationId: "step_1" } as never,
        { eventCount: 11 } as never,
      );
      expect(current.event?.eventId).toBe(slot(12));
      expect((current as { events?: unknown }).events).toBeUndefined();
    });

    it("does not continue a run of spec 5, nor does a World of spec 5 continue one of the slot line", async () => {
      const store = await driver.open();
      const v5 = createWorld({ store, specVersion: 5, pollIntervalMs: 50, autoStart: false });
      const v7 = createWorld({ store, specVersion: 7, pollIntervalMs: 50, autoStart: false });
      const early = newRunId();
      await v5.events.create(early, created as never);
      await expect(v7.events.create(early, { eventType: "run_started" } as never)).rejects.toMatchObject({
        name: "RunNotSupportedError",
      });
      const slotted = newRunId();
      await v7.events.create(slotted, created as never);
      await expect(v5.events.create(slotted, { eventType: "run_started" } as never)).rejects.toMatchObject({
        name: "RunNotSupportedError",
      });
      // Spec 6 and 7 are one line: a run one wrote, the other continues.
      const v6 = createWorld({ store, specVersion: 6, pollIntervalMs: 50, autoStart: false });
      const shared = newRunId();
      await v7.events.create(shared, created as never);
      const started = await v6.events.create(shared, { eventType: "run_started" } as never);
      expect(started.event?.eventId).toBe(slot(2));
    });
  });
});
