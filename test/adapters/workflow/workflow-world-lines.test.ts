/**
 * The World serves both lines of the Workflow SDK: spec 3 (workflow 4.x) and spec 5 (the 5.0 betas),
 * on the World directly. The spec is chosen at createWorld (the installed @workflow/world's unless
 * asked) and anything else is refused there; each entity records the spec that wrote it; spec 3 has
 * its flat streams (read by name alone), its error shapes and its queue's wire, which the SDK's own
 * world-local 4.x handler reads; list cursors may be empty; and a run of one line is not continued by
 * the other.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { encodeUlid, executionIdOf } from "../../../src/adapters/workflow/ids.js";
import { createWorld, type Deliver, type FlowstoreWorld } from "../../../src/adapters/workflow/index.js";
import { chooseSpec } from "../../../src/adapters/workflow/spec.js";
import type { FlatStreamer } from "../../../src/adapters/workflow/spec3.js";
import type { Store } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";
import { NODE_FLAGS } from "../../support/node-flags.js";
import { until } from "../../support/waiting.js";
import { newRunId } from "../../support/workflow-world-fixtures.js";

const TSX = pathToFileURL(path.resolve("node_modules/tsx/dist/loader.mjs")).href;
const DAY = 86_400_000;
const text = (chunk: Uint8Array | undefined) => new TextDecoder().decode(chunk);
const bytes = (...values: number[]) => new Uint8Array(values);

function created(specVersion?: number) {
  return {
    eventType: "run_created" as const,
    ...(specVersion === undefined ? {} : { specVersion }),
    eventData: { deploymentId: "d1", workflowName: "wf", input: bytes(1) },
  };
}

describe("the spec a World serves", () => {
  it("is the installed @workflow/world's, or the one asked for; any other is refused", () => {
    expect(chooseSpec(undefined, { version: "4.5.0", spec: 3 })).toBe(3);
    expect(chooseSpec(undefined, { version: "5.0.0-beta.21", spec: 5 })).toBe(5);
    expect(chooseSpec(undefined, {})).toBe(5);
    expect(chooseSpec(3, { version: "5.0.0-beta.21", spec: 5 })).toBe(3);
    expect(chooseSpec(undefined, { version: "5.0.0-beta.27", spec: 6 })).toBe(6);
    expect(chooseSpec(undefined, { version: "5.0.0-beta.37", spec: 7 })).toBe(7);
    expect(chooseSpec(6, { version: "5.0.0-beta.37", spec: 7 })).toBe(6);
    expect(() => chooseSpec(undefined, { version: "5.0.0-beta.60", spec: 9 })).toThrow(
      "flowstore/workflow serves World spec 3 (workflow 4.x), spec 5 (workflow 5.0.0-beta.35–41) and " +
        "specs 6 and 7 (workflow 5.0.0-beta.42 and later); the installed @workflow/world 5.0.0-beta.60 " +
        "declares spec 9",
    );
    expect(() => chooseSpec(4)).toThrow(/specVersion must be 3 \(workflow 4\.x\), 5 .*, 6 or 7/);
  });

  it("is chosen with no top-level await on the way, so 4.x's require() loads the World module", () => {
    // Under tsx a require()d module graph is compiled to CommonJS, which has no top-level await: one
    // anywhere in the adapter's static imports fails this load.
    const printed = execFileSync(
      process.execPath,
      [
        ...NODE_FLAGS,
        "--import",
        TSX,
        "-e",
        `const { default: createWorld } = require(${JSON.stringify(path.resolve("src/adapters/workflow/index.ts"))});
         process.stdout.write(String(createWorld({ store: new Promise(() => {}), specVersion: 3 }).specVersion));`,
      ],
      { encoding: "utf8" },
    );
    expect(printed).toBe("3");
  });

  it("is reported by the World, which has the calls of its spec", () => {
    // This repository's @workflow/world is a 5.0 beta.
    const beta = createWorld({ store: new Promise(() => {}) });
    expect(beta.specVersion).toBe(5);
    expect("writeToStream" in beta).toBe(false);
    const v4 = createWorld({ store: new Promise(() => {}), specVersion: 3 });
    expect(v4.specVersion).toBe(3);
    expect(typeof (v4 as unknown as FlatStreamer).readFromStream).toBe("function");
    const slots = createWorld({ store: new Promise(() => {}), specVersion: 7 });
    expect(slots.specVersion).toBe(7);
    expect("writeToStream" in slots).toBe(false);
    expect(() => createWorld({ specVersion: 8 as never })).toThrow(
      expect.objectContaining({ name: "ValidationError", field: "specVersion" }),
    );
  });
});

forEachDriver((driver) => {
  describe("the World on either line", () => {
    async function worlds(): Promise<{
      v3: FlowstoreWorld & FlatStreamer;
      v5: FlowstoreWorld;
      store: Store;
    }> {
      const store = await driver.open();
      const v3 = createWorld({ store, specVersion: 3, pollIntervalMs: 50, autoStart: false });
      const v5 = createWorld({ store, specVersion: 5, pollIntervalMs: 50, autoStart: false });
      return { v3: v3 as FlowstoreWorld & FlatStreamer, v5, store };
    }

    it("records the spec that wrote each entity, and keeps spec 3's errors in their shape", async () => {
      const { v3 } = await worlds();
      const runId = newRunId();
      // 4.x's start() sends the World's spec; the other events carry 3 too. Unsaid, the World's.
      expect((await v3.events.create(runId, created())).run?.specVersion).toBe(3);
      await v3.events.create(runId, { eventType: "run_started", specVersion: 3 } as never);
      const step = await v3.events.create(runId, {
        eventType: "step_created",
        correlationId: "s1",
        eventData: { stepName: "n", input: bytes(2) },
      } as never);
      expect(step.step?.specVersion).toBe(3);
      const wait = await v3.events.create(runId, {
        eventType: "wait_created",
        correlationId: "w1",
        eventData: { resumeAt: new Date(Date.now() + 60_000) },
      } as never);
      expect(wait.wait?.specVersion).toBe(3);
      const hook = await v3.events.create(runId, {
        eventType: "hook_created",
        correlationId: "h1",
        eventData: { token: `t-${runId}` },
      } as never);
      expect(hook.hook?.specVersion).toBe(3);
      await v3.events.create(runId, { eventType: "step_started", correlationId: "s1" } as never);
      // 4.x fails a step with its message as a string and the stack beside it.
      await v3.events.create(runId, {
        eventType: "step_failed",
        correlationId: "s1",
        specVersion: 3,
        eventData: { stepName: "n", error: "boom", stack: "Error: boom\n    at step" },
      } as never);
      const [failed] = (await v3.steps.list({ runId, pagination: { cursor: "" } })).data;
      expect(failed).toMatchObject({
        status: "failed",
        specVersion: 3,
        error: { message: "boom", stack: "Error: boom\n    at step" },
      });
      await v3.events.create(runId, {
        eventType: "run_failed",
        specVersion: 3,
        eventData: { error: { message: "boom", stack: "Error: boom" }, errorCode: "USER_ERROR" },
      } as never);
      const run = await v3.runs.get(runId);
      expect(run.error).toEqual({ message: "boom", stack: "Error: boom", code: "USER_ERROR" });
      const events = (await v3.events.list({ runId, pagination: { cursor: "" } })).data;
      expect(new Set(events.map((e) => e.specVersion))).toEqual(new Set([3]));
      // The failing event keeps what 4.x sent, for its replay.
      expect(events.find((e) => e.eventType === "step_failed")?.eventData).toMatchObject({
        error: "boom",
        stack: "Error: boom\n    at step",
      });
    });

    it("has spec 3's streams: by name first, read by the name alone, live while written", async () => {
      const { v3, v5 } = await worlds();
      const runId = newRunId();
      const own = `${runId.replace("wrun_", "strm_")}_user`;
      const other = `strm_${newRunId().slice(5)}`;
      await v3.writeToStream(own, runId, "a");
      await v3.writeToStreamMulti(own, runId, ["b", bytes(99)]);
      expect(await v3.getStreamInfo(own, runId)).toEqual({ tailIndex: 2, done: false });
      const live = (await v3.readFromStream(own, 1)).getReader();
      expect(text((await live.read()).value)).toBe("b");
      expect((await live.read()).value).toEqual(bytes(99));
      const pending = live.read();
      await v3.writeToStream(own, runId, "d");
      expect(text((await pending).value)).toBe("d");
      await v3.closeStream(own, runId);
      expect(await live.read()).toEqual({ done: true, value: undefined });
      const page = await v3.getStreamChunks(own, runId, { limit: 2 });
      expect(page).toMatchObject({ cursor: "2", hasMore: true, done: false });
      // The run's own stream is the run's, as spec 5 has it.
      const reader = (await v5.streams.get(runId, own)).getReader();
      expect(text((await reader.read()).value)).toBe("a");
      await reader.cancel();

      // A stream named for no run (a step's ReadableStream): read by its name, listed by the run.
      await v3.writeToStream(other, runId, "x");
      await v3.closeStream(other, runId);
      const all: string[] = [];
      const byName = (await v3.readFromStream(other)).getReader();
      for (let next = await byName.read(); !next.done; next = await byName.read()) all.push(text(next.value));
      expect(all).toEqual(["x"]);
      expect(await v3.getStreamInfo(other, runId)).toEqual({ tailIndex: 0, done: true });
      expect((await v3.listStreamsByRunId(runId)).sort()).toEqual([other, own].sort());
    });

    it("keeps a stream a step passes on under its ULID's time, and store.prune() sweeps it once past the cut", async () => {
      const { v3, store } = await worlds();
      const runId = newRunId();
      await v3.events.create(runId, created());
      // The SDK names such a stream with a ULID of when it was made: 40 days ago, and now.
      const madeAt = Buffer.alloc(16);
      madeAt.writeUIntBE(Date.now() - 40 * DAY, 0, 6);
      madeAt.fill(7, 6);
      const old = `strm_${encodeUlid(madeAt)}`;
      const fresh = `strm_${newRunId().slice(5)}`;
      for (const name of [old, fresh]) {
        await v3.writeToStream(name, runId, "x");
        await v3.closeStream(name, runId);
      }
      const owners = async () =>
        (
          await store.query<{ name: string; owner: string }>(
            `select name, execution_id::text as owner from ${store.schema}.streams
              where name = any($1) and execution_id <> $2 order by name`,
            [[old, fresh], executionIdOf(runId)],
          )
        ).rows;
      // Each under a UUIDv8 of its ULID's time: none is the run's, and no run has it.
      const [before, now] = [Date.now() - 40 * DAY, Date.now()];
      expect(
        (await owners()).map(({ name, owner }) => {
          const at = Number.parseInt(owner.replaceAll("-", "").slice(0, 12), 16);
          return { name, version: owner[14], near: Math.abs(at - (name === old ? before : now)) < 60_000 };
        }),
      ).toEqual([old, fresh].sort().map((name) => ({ name, version: "8", near: true })));
      // The run finished 40 days ago: it goes with the records of its streams, and the old stream with
      // it; the one made now stays until the cut passes its time.
      await store.query(
        `update ${store.schema}.executions set status = 'completed', completed_at = now() - interval '40 days'
          where id = $1`,
        [executionIdOf(runId)],
      );
      const result = await store.prune({ finishedBefore: new Date(Date.now() - 30 * DAY) });
      expect(result).toMatchObject({ executions: 1, streams: 2, passedStreams: 1 });
      expect((await owners()).map(({ name }) => name)).toEqual([fresh]);
      const all: string[] = [];
      const byName = (await v3.readFromStream(fresh)).getReader();
      for (let next = await byName.read(); !next.done; next = await byName.read()) all.push(text(next.value));
      expect(all).toEqual(["x"]);
    });

    it("takes an empty cursor as none in every list, and answers a step asked for without its run", async () => {
      for (const w of Object.values(await worlds()).slice(0, 2) as FlowstoreWorld[]) {
        const runId = newRunId();
        await w.events.create(runId, created(w.specVersion));
        await w.events.create(runId, {
          eventType: "step_created",
          correlationId: "s1",
          eventData: { stepName: "n", input: bytes(2) },
        } as never);
        const empty = { cursor: "" };
        expect((await w.runs.list({ pagination: empty })).data.map((r) => r.runId)).toContain(runId);
        expect((await w.steps.list({ runId, pagination: empty })).data).toHaveLength(1);
        expect((await w.events.list({ runId, pagination: empty })).data).toHaveLength(2);
        expect((await w.hooks.list({ pagination: empty })).data).toEqual(expect.any(Array));
        const byId = await w.events.listByCorrelationId({ correlationId: "s1", pagination: empty });
        expect(byId.data.map((e) => e.runId)).toContain(runId);
        // 4.x may name the run: only its events.
        const ofRun = await w.events.listByCorrelationId({ correlationId: "s1", runId } as never);
        expect(ofRun.data.map((e) => e.runId)).toEqual([runId]);
        await expect(w.steps.get(undefined as never, "s1")).rejects.toMatchObject({
          name: "WorkflowWorldError",
          status: 404,
        });
      }
    });

    it("does not continue a run of the other line, and says which", async () => {
      const { v3, v5 } = await worlds();
      const betaRun = newRunId();
      await v5.events.create(betaRun, created(5));
      await v5.events.create(betaRun, { eventType: "run_started", specVersion: 5 } as never);
      const before = (await v5.events.list({ runId: betaRun })).data.length;
      await expect(
        v3.events.create(betaRun, { eventType: "run_started", specVersion: 3 } as never),
      ).rejects.toMatchObject({
        name: "RunNotSupportedError",
        runSpecVersion: 5,
        worldSpecVersion: 3,
        message: expect.stringMatching(
          /recorded with World spec 5; this World serves spec 3 \(workflow 4\.x\)/,
        ),
      });
      // Nor is it failed by that runtime, which gives up on a message after 48 deliveries.
      await expect(
        v3.events.create(betaRun, {
          eventType: "run_failed",
          specVersion: 3,
          eventData: { error: { message: "Workflow exceeded maximum queue deliveries" } },
        } as never),
      ).rejects.toMatchObject({ name: "RunNotSupportedError" });
      expect((await v5.events.list({ runId: betaRun })).data).toHaveLength(before);
      expect((await v5.runs.get(betaRun)).status).toBe("running");

      // A 4.x run's first delivery reaching a 5.0 beta's handler, which passes on the spec of the start
      // message: refused before anything is written.
      const v4Run = newRunId();
      await v3.events.create(v4Run, created(3));
      const { eventData } = created(3);
      await expect(
        v5.events.create(v4Run, { eventType: "run_started", specVersion: 3, eventData } as never),
      ).rejects.toMatchObject({
        name: "RunNotSupportedError",
        runSpecVersion: 3,
        worldSpecVersion: 5,
      });
      expect((await v3.events.list({ runId: v4Run })).data.map((e) => e.eventType)).toEqual(["run_created"]);
      // Its own line goes on with it.
      expect(
        (await v3.events.create(v4Run, { eventType: "run_started", specVersion: 3 } as never)).run?.status,
      ).toBe("running");
    });

    it("delivers in spec 3 as the SDK's local queue does, which its 4.x handler and this World's both read", async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), "flowstore-local-"));
      try {
        // world-local 4.4.1, as @workflow/core 4.8.9 installs it.
        const core4 = createRequire(path.resolve("node_modules/@workflow/core-4/package.json"));
        const local = (await import(pathToFileURL(core4.resolve("@workflow/world-local")).href)) as {
          createLocalWorld(config: { dataDir: string }): {
            createQueueHandler: FlowstoreWorld["createQueueHandler"];
          };
        };
        const seen: [string, unknown][] = [];
        const record =
          (who: string) => async (message: unknown, meta: { attempt: number; queueName: string }) => {
            seen.push([who, { message, attempt: meta.attempt, queueName: meta.queueName }]);
          };
        const theirs = local
          .createLocalWorld({ dataDir })
          .createQueueHandler("__wkf_workflow_", record("local"));
        let ours: Deliver = async () => new Response("not yet", { status: 503 });
        let useLocal = true;
        const store = await driver.open();
        const w = createWorld({
          store,
          specVersion: 3,
          pollIntervalMs: 50,
          autoStart: false,
          deliver: (request) => (useLocal ? theirs(request) : ours(request)),
        });
        ours = w.createQueueHandler("__wkf_workflow_", record("flowstore"));
        const runId = newRunId();
        const message = { runId, runInput: { input: bytes(0, 1, 255), $tag: "kept" } };
        await w.queue("__wkf_workflow_wf" as never, message as never);
        await w.start();
        await until(() => seen.length === 1);
        useLocal = false;
        await w.queue("__wkf_workflow_wf" as never, message as never);
        await until(() => seen.length === 2);
        const expected = { message, attempt: 1, queueName: "__wkf_workflow_wf" };
        expect(seen).toEqual([
          ["local", expected],
          ["flowstore", expected],
        ]);
        await w.close();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
});
