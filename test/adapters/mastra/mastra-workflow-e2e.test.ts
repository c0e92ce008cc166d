/**
 * A real Mastra workflow on FlowstoreMastraStorage: a step, two in parallel, a step that suspends for an
 * approval and one after it. The run suspends, is listed, is resumed by another process, completes
 * there with both parallel results, is shown by the dashboard, and is deleted. Eight
 * resumes of one suspended run at once, each through its own Mastra, run the last step once.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { createInterface } from "node:readline";
import { Mastra } from "@mastra/core";
import { afterAll, expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import { openStore, type Store, type StoreOptions } from "../../../src/index.js";
import { getJson, serve } from "../../dashboard/served.js";
import { approvalWorkflow } from "../../fixtures/mastra-approval.js";
import { TSX_LOADER } from "../../support/cli-run.js";
import { embeddedEnv, killAfterFile, tempDir } from "../../support/embedded-env.js";
import { fileDatabaseUrl, forEachDriver, uniqueSchema } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";
import { NODE_FLAGS } from "../../support/node-flags.js";

const RESUME = path.resolve("test/fixtures/mastra-resume.ts");
const opened: Store[] = [];
afterAll(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

/** Where another process finds the store: the server's URL and schema, or the embedded data directory. */
async function storeOptions(driver: string): Promise<StoreOptions> {
  if (driver === "postgres") return { connection: await fileDatabaseUrl(), schema: uniqueSchema("mastra") };
  return { dataDir: tempDir("mastra"), env: embeddedEnv() };
}

function mastraOn(store: Store, onFinish?: (runId: string) => void) {
  return new Mastra({
    storage: new FlowstoreMastraStorage({ id: "e2e", store }),
    workflows: { approval: approvalWorkflow(onFinish) },
    logger: false,
  });
}

/** Resumes the run in another process; its printed result. */
function resumeElsewhere(
  options: StoreOptions,
  runId: string,
  approvedBy: string,
): Promise<Record<string, unknown>> {
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, "--import", TSX_LOADER, RESUME, JSON.stringify(options), runId, approvedBy],
    {
      env: embeddedEnv(),
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  killAfterFile(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => lines.push(line));
  return new Promise((resolve, reject) =>
    child.once("exit", (code) =>
      code === 0 && lines[0]
        ? resolve(JSON.parse(lines[0]))
        : reject(new Error(`resume exited with ${code}`)),
    ),
  );
}

describeMastra("flowstore/mastra: a real workflow", () => {
  forEachDriver((d) => {
    it("suspends, is listed, is resumed by another process with both branches' results, and is deleted", {
      timeout: 120_000,
    }, async () => {
      const options = await storeOptions(d.name);
      const store = await openStore(options);
      opened.push(store);
      const mastra = mastraOn(store);
      const workflow = mastra.getWorkflow("approval");
      const run = await workflow.createRun();
      const started = await run.start({ inputData: { n: 3 } });
      expect(started.status).toBe("suspended");

      const storage = mastra.getStorage() as FlowstoreMastraStorage;
      const workflows = await storage.getStore("workflows");
      const listed = await workflows?.listWorkflowRuns({ workflowName: "approval" });
      expect(listed?.runs.map((r) => [r.runId, (r.snapshot as { status: string }).status])).toEqual([
        [run.runId, "suspended"],
      ]);
      // Mastra's runs are Mastra's own rows, none of flowstore's executions.
      expect((await store.executions.list({})).items).toEqual([]);

      // n = 4 after prepare: double 8, square 16.
      const resumed = await resumeElsewhere(options, run.runId, "alice");
      expect(resumed).toEqual({ status: "success", result: { message: "24 approved by alice" } });
      const done = await workflows?.getWorkflowRunById({ runId: run.runId, workflowName: "approval" });
      const snapshot = done?.snapshot as { status: string; context: Record<string, { output?: unknown }> };
      expect(snapshot.status).toBe("success");
      expect(snapshot.context.double?.output).toEqual({ value: 8 });
      expect(snapshot.context.square?.output).toEqual({ value: 16 });
      expect(Object.keys(snapshot.context)).toEqual(
        expect.arrayContaining(["double", "square", "approve", "finish"]),
      );
      const succeeded = await workflows?.listWorkflowRuns({ workflowName: "approval", status: "success" });
      expect(succeeded?.runs.map((r) => r.runId)).toEqual([run.runId]);

      // The dashboard lists the run and shows its steps' statuses (Mastra's, from the run's row).
      const { url } = await serve(store);
      const page = await getJson(url, "/api/mastra/runs?workflow=approval");
      expect(page.items.map((r: { runId: string; status: string }) => [r.runId, r.status])).toEqual([
        [run.runId, "success"],
      ]);
      const shown = await getJson(url, `/api/mastra/run?workflow=approval&run=${run.runId}`);
      const steps = shown.steps as { id: string; status: string }[];
      expect(steps.map((step) => step.id)).toEqual(
        expect.arrayContaining(["input", "double", "square", "approve", "finish"]),
      );
      expect(steps.filter((step) => step.id !== "input").map((step) => step.status)).toEqual(
        Array(steps.length - 1).fill("success"),
      );
      expect((await fetch(new URL("/mastra", url))).status).toBe(200);

      await workflows?.deleteWorkflowRunById({ runId: run.runId, workflowName: "approval" });
      expect(await workflows?.getWorkflowRunById({ runId: run.runId })).toBeNull();
      expect((await workflows?.listWorkflowRuns({ workflowName: "approval" }))?.runs).toEqual([]);
    });

    it("runs the steps after a suspension once when eight resume it at the same time", {
      timeout: 120_000,
    }, async () => {
      const store = await d.open();
      const finished: string[] = [];
      const first = mastraOn(store, (runId) => finished.push(runId));
      const run = await first.getWorkflow("approval").createRun({ runId: randomUUID() });
      expect((await run.start({ inputData: { n: 1 } })).status).toBe("suspended");
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, async (_, i) => {
          const mastra = mastraOn(store, (runId) => finished.push(runId));
          const again = await mastra.getWorkflow("approval").createRun({ runId: run.runId });
          return again.resume({ step: "approve", resumeData: { approvedBy: `resumer ${i}` } });
        }),
      );
      const succeeded = outcomes.filter((o) => o.status === "fulfilled" && o.value.status === "success");
      expect(succeeded).toHaveLength(1);
      expect(finished).toEqual([run.runId]);
      const refused = outcomes.filter((o) => o.status === "rejected");
      expect(refused.map((o) => String((o as PromiseRejectedResult).reason))).toEqual(
        Array(7).fill(expect.stringMatching(/already resumed by another caller|was not suspended/)),
      );
    });
  });
});
