/**
 * A step's outcome written with `sinceCursor` returns the run's events since that cursor, so the
 * runtime skips its next `events.list`: the same events that list would return, the write's own last,
 * with a cursor that goes on from there.
 */
import { describe, expect, it } from "vitest";
import { createWorld } from "../../../src/adapters/workflow/index.js";
import { forEachDriver } from "../../support/harness.js";
import { statementLog } from "../../support/waiting.js";
import { created, newRunId } from "../../support/workflow-world-fixtures.js";

forEachDriver((driver) => {
  describe("the World's step outcomes with the events since a cursor", () => {
    it("return what events.list returns after that cursor, the outcome's own event last", async () => {
      const log = statementLog();
      const store = await driver.open({ logStatements: true, logger: log });
      const w = createWorld({ store });
      const runId = newRunId();
      await w.events.create(runId, created());
      await w.events.create(runId, { eventType: "run_started" });
      const before = await w.events.list({ runId });
      const cursor = before.cursor as string;
      await w.events.create(runId, {
        eventType: "step_started",
        correlationId: "s1",
        eventData: { stepName: "add", input: new Uint8Array([1]) },
      });
      const sent = log.sql.length;
      const done = await w.events.create(
        runId,
        { eventType: "step_completed", correlationId: "s1", eventData: { result: new Uint8Array([2]) } },
        { sinceCursor: cursor },
      );
      // One statement: the write read the events itself.
      expect(log.sql.length - sent).toBe(1);
      const listed = await w.events.list({ runId, pagination: { cursor } });
      expect(done.events).toEqual(listed.data);
      expect(done.events?.map((e) => e.eventType)).toEqual([
        "step_created",
        "step_started",
        "step_completed",
      ]);
      expect(done.events?.at(-1)).toEqual(done.event);
      expect(done.cursor).toBe(listed.cursor);
      expect(done.hasMore).toBe(false);
      // The cursor goes on: nothing after it yet.
      expect((await w.events.list({ runId, pagination: { cursor: done.cursor as string } })).data).toEqual(
        [],
      );

      // Without resolveData the payloads come back too; with "none" they are left out, as list does.
      await w.events.create(runId, {
        eventType: "step_started",
        correlationId: "s2",
        eventData: { stepName: "add", input: new Uint8Array([3]) },
      });
      const lean = await w.events.create(
        runId,
        { eventType: "step_completed", correlationId: "s2", eventData: { result: new Uint8Array([4]) } },
        { sinceCursor: done.cursor as string, resolveData: "none" },
      );
      const leanListed = await w.events.list({
        runId,
        pagination: { cursor: done.cursor as string },
        resolveData: "none",
      });
      expect(lean.events).toEqual(leanListed.data);
      expect(lean.events?.map((e) => e.eventType)).toEqual([
        "step_created",
        "step_started",
        "step_completed",
      ]);
      await w.close?.();
    });
  });
});
