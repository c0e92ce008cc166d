/**
 * The Mastra adapter's prepared statements, as test/db/prepared-plans.test.ts checks the store's own:
 * the store plans them once, generically, on tables that may be empty when the plan is made, and a
 * plan that reads a table whole then stays a scan of the whole table at a million rows. Each statement
 * the adapter sends in ordinary use (persists alone and together, loads, lists, step and state updates,
 * deletes, messages) is planned as the server would plan it generically, and none may read one of the
 * store's tables whole. Real server only: PGlite prepares nothing by name.
 */
import { randomUUID } from "node:crypto";
import type { MemoryStorage, WorkflowsStorage } from "@mastra/core/storage";
import { expect, it } from "vitest";
import { FlowstoreMastraStorage } from "../../../src/adapters/mastra/index.js";
import type { Logger } from "../../../src/index.js";
import { explainGeneric, nodes, type PlanNode } from "../../support/explain.js";
import { forEachDriver } from "../../support/harness.js";
import { describeMastra } from "../../support/mastra.js";

describeMastra("flowstore/mastra prepared statements", () => {
  forEachDriver((d) => {
    it.skipIf(!d.concurrent)(
      "keep an index probe in the generic plan of every one, made on empty tables",
      async () => {
        const prepared = new Set<string>();
        const ignore = () => {};
        const logger: Logger = {
          debug: (entry) => {
            if (entry.prepared === true && typeof entry.sql === "string") prepared.add(entry.sql);
          },
          info: ignore,
          warn: ignore,
          error: ignore,
        };
        const store = await d.open({ logStatements: true, logger });
        const storage = new FlowstoreMastraStorage({ id: "plans", store });
        const workflows = (await storage.getStore("workflows")) as WorkflowsStorage;
        const memory = (await storage.getStore("memory")) as MemoryStorage;

        const snapshot = (steps: number) =>
          ({
            status: steps < 3 ? "running" : "success",
            context: {
              input: { n: 1 },
              ...Object.fromEntries(Array.from({ length: steps }, (_, i) => [`s${i}`, { i }])),
            },
          }) as never;
        const runs = Array.from({ length: 4 }, () => randomUUID());
        for (let steps = 1; steps <= 3; steps++) {
          await workflows.persistWorkflowSnapshot({
            workflowName: "p",
            runId: runs[0] as string,
            snapshot: snapshot(steps),
          });
          await Promise.all(
            runs.map((runId) =>
              workflows.persistWorkflowSnapshot({ workflowName: "p", runId, snapshot: snapshot(steps) }),
            ),
          );
        }
        // Persists at once of runs with a big entry (a row of its own) take the statement with rows.
        const withRows = (steps: number) =>
          ({ status: "running", context: { input: { text: "x".repeat(4096) }, [`s${steps}`]: {} } }) as never;
        for (let steps = 1; steps <= 2; steps++) {
          await Promise.all(
            runs.map((runId) =>
              workflows.persistWorkflowSnapshot({ workflowName: "q", runId, snapshot: withRows(steps) }),
            ),
          );
        }
        const runId = runs[0] as string;
        await workflows.loadWorkflowSnapshot({ workflowName: "p", runId });
        await workflows.getWorkflowRunById({ runId });
        await workflows.listWorkflowRuns({ workflowName: "p", perPage: 2, page: 0 });
        await workflows.updateWorkflowResults({
          workflowName: "p",
          runId,
          stepId: "s9",
          result: { status: "success", output: 1 } as never,
          requestContext: {},
        });
        // A foreach step's array result, merged with the one stored.
        for (const output of [[1], [2]]) {
          await workflows.updateWorkflowResults({
            workflowName: "p",
            runId,
            stepId: "each",
            result: { status: "success", output } as never,
            requestContext: {},
          });
        }
        await workflows.updateWorkflowState({
          workflowName: "p",
          runId,
          opts: { status: "running" } as never,
        });
        await workflows.deleteWorkflowRunById({ workflowName: "p", runId });

        const threadId = randomUUID();
        await memory.saveThread({
          thread: { id: threadId, resourceId: "r", title: "", createdAt: new Date(), updatedAt: new Date() },
        });
        await memory.saveMessages({
          messages: [
            {
              id: randomUUID(),
              threadId,
              resourceId: "r",
              role: "user",
              createdAt: new Date(),
              content: { format: 2, parts: [{ type: "text", text: "hi" }] },
            },
          ],
        });
        await memory.listMessages({
          threadId,
          perPage: 40,
          orderBy: { field: "createdAt", direction: "DESC" },
        });
        const { messages } = await memory.listMessages({ threadId, include: [{ id: "x", threadId }] });
        await memory.getThreadById({ threadId });
        await memory.listThreads({ filter: { resourceId: "r" }, perPage: 10, page: 0 });
        await memory.updateThread({ id: threadId, title: "t", metadata: { a: 1 } });
        await memory.updateMessages({
          messages: messages.map((m) => ({ id: m.id, role: "assistant" as const })),
        });
        await memory.deleteMessages(messages.map((m) => m.id));
        await memory.saveResource({ resource: { id: "r", createdAt: new Date(), updatedAt: new Date() } });
        await memory.getResourceById({ resourceId: "r" });
        await memory.deleteThread({ threadId });

        // Entries over the store's offload limit take statements of their own.
        const offloading = new FlowstoreMastraStorage({
          id: "plans-offload",
          store: await d.open({ logStatements: true, logger, limits: { offloadAbove: 1024 } }),
        });
        const big = (await offloading.getStore("workflows")) as WorkflowsStorage;
        const bigRun = randomUUID();
        const text = "x".repeat(4096);
        await big.persistWorkflowSnapshot({ workflowName: "b", runId: bigRun, snapshot: snapshot(1) });
        for (const input of [{ text }, { text: `${text}y` }, { small: 1 }]) {
          await big.persistWorkflowSnapshot({
            workflowName: "b",
            runId: bigRun,
            snapshot: { status: "running", context: { input } } as never,
          });
        }
        for (const output of [text, 1]) {
          await big.updateWorkflowResults({
            workflowName: "b",
            runId: bigRun,
            stepId: "s",
            result: { status: "success", output } as never,
            requestContext: {},
          });
        }
        await big.loadWorkflowSnapshot({ workflowName: "b", runId: bigRun });
        await big.deleteWorkflowRunById({ workflowName: "b", runId: bigRun });

        // Both statements for many runs were planned: of small entries only, and with rows.
        expect(
          [...prepared].some(
            (sql) =>
              sql.includes("unnest($1::text[]), unnest($2::uuid[])") && !sql.includes("with ordinality"),
          ),
        ).toBe(true);
        expect([...prepared].some((sql) => sql.includes("with ordinality"))).toBe(true);
        const scans: string[] = [];
        for (const sql of prepared) {
          const { rows } = await explainGeneric(store, sql, "verbose, ");
          const plan = rows[0]?.["QUERY PLAN"][0].Plan as PlanNode & { Schema?: string };
          for (const node of nodes(plan) as (PlanNode & { Schema?: string })[]) {
            if (node["Node Type"] === "Seq Scan" && node.Schema === store.schema) {
              scans.push(`${node["Relation Name"]} in: ${sql.replace(/\s+/g, " ").slice(0, 160)}`);
            }
          }
        }
        expect(scans).toEqual([]);
      },
    );
  });
});
