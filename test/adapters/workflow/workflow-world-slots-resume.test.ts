/**
 * The slot line's hookResumeDedup, which its World declares: hook_received writes that carry one
 * (run, resumeId), however many and however concurrent, commit one event, returned to every writer;
 * events.list and events.get return the resume id; a retry after the hook or the run has gone still
 * gets the event it wrote; the same resume id with another payload digest is refused. Writes without
 * a resume id append each time, as before.
 */
import type { EventResult, World as SlotsWorld } from "@workflow/world-slots";
import { describe, expect, it } from "vitest";
import { createWorld } from "../../../src/adapters/workflow/index.js";
import { forEachDriver } from "../../support/harness.js";
import { startedSlotRun } from "../../support/workflow-world-fixtures.js";

const bytes = (...values: number[]) => new Uint8Array(values);

forEachDriver((driver) => {
  describe("the slot line's hook resume deduplication", () => {
    async function hooked() {
      const store = await driver.open();
      const w = createWorld({
        store,
        specVersion: 7,
        pollIntervalMs: 50,
        autoStart: false,
      }) as unknown as SlotsWorld;
      const runId = await startedSlotRun(w);
      const token = `token-${runId}`;
      await w.events.create(runId, {
        eventType: "hook_created",
        correlationId: "hook_1",
        eventData: { token },
      } as never);
      const receive = (payload: Uint8Array, params: Record<string, string> = {}): Promise<EventResult> =>
        w.events.create(
          runId,
          { eventType: "hook_received", correlationId: "hook_1", eventData: { token, payload } } as never,
          params,
        );
      const received = async () =>
        (await w.events.list({ runId, pagination: {} })).data.filter((e) => e.eventType === "hook_received");
      return { w, runId, receive, received };
    }

    it("collapses concurrent writes of one resume id onto one event, returned to each writer", async () => {
      const { w, runId, receive, received } = await hooked();
      const params = { resumeId: "resume_a", resumePayloadDigest: "digest_a" };
      const results = await Promise.all(Array.from({ length: 6 }, () => receive(bytes(7), params)));
      const ids = new Set(results.map((r) => r.event?.eventId));
      expect(ids.size).toBe(1);
      expect(results.every((r) => r.hook?.hookId === "hook_1")).toBe(true);
      const events = await received();
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ resumeId: "resume_a", eventData: { payload: bytes(7) } });
      expect(events[0]?.eventId).toBe([...ids][0]);
      expect(await w.events.get(runId, events[0]?.eventId as string)).toMatchObject({ resumeId: "resume_a" });
      // Another resume id is another resume.
      const other = await receive(bytes(8), { resumeId: "resume_b", resumePayloadDigest: "digest_b" });
      expect(other.event?.eventId).not.toBe(events[0]?.eventId);
      expect((await received()).map((e) => e.resumeId)).toEqual(["resume_a", "resume_b"]);
    });

    it("returns the written event to a retry after the run ended, and refuses another payload", async () => {
      const { w, runId, receive, received } = await hooked();
      const params = { resumeId: "resume_a", resumePayloadDigest: "digest_a" };
      const first = await receive(bytes(7), params);
      await w.events.create(runId, { eventType: "run_completed", eventData: { output: bytes(1) } } as never);
      const retry = await receive(bytes(7), params);
      expect(retry.event?.eventId).toBe(first.event?.eventId);
      expect(retry.hook).toBeUndefined();
      await expect(
        receive(bytes(9), { resumeId: "resume_a", resumePayloadDigest: "digest_z" }),
      ).rejects.toMatchObject({ name: "WorkflowWorldError", status: 422 });
      // A new resume of the ended run is refused as before, and nothing more was written.
      await expect(receive(bytes(9), { resumeId: "resume_c" })).rejects.toMatchObject({
        name: "HookNotFoundError",
      });
      expect(await received()).toHaveLength(1);
    });

    it("appends each write without a resume id, and lists it without one", async () => {
      const { receive, received } = await hooked();
      await receive(bytes(1));
      await receive(bytes(1));
      const events = await received();
      expect(events).toHaveLength(2);
      expect(events.every((e) => !("resumeId" in e))).toBe(true);
    });
  });
});
