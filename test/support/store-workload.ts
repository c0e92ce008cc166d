/**
 * What a store sends in ordinary use: starts, steps, history, streams, signals, tasks, the queue
 * (directly and through a worker) and both engine adapters. The plan tests explain what it sent.
 */
import { emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { expect } from "vitest";
import { FlowstoreSaver, FlowstoreStore } from "../../src/adapters/langgraph/index.js";
import { runIdOf } from "../../src/adapters/workflow/ids.js";
import { createWorld } from "../../src/adapters/workflow/index.js";
import { type Store, uuidv7 } from "../../src/index.js";

export async function exerciseStore(store: Store): Promise<void> {
  // Workflows: starts, steps (new, and one recorded again), completions, all at once as engines do.
  const runs = await Promise.all(
    Array.from({ length: 8 }, (_, i) => store.executions.start({ name: "plans", input: { i } })),
  );
  const ids = runs.map((run) => run.execution.id);
  await Promise.all(
    ids.map((id, i) => store.steps.record({ executionId: id, number: 0, name: "a", output: i })),
  );
  await store.steps.record({ executionId: ids[0] as string, number: 0, name: "a", output: "again" });
  await store.steps.list(ids[0] as string);
  await store.steps.get(ids[0] as string, 0);
  await Promise.all(
    ids.map((id, i) => (i % 2 ? store.executions.complete(id, i) : store.executions.fail(id, i))),
  );

  // History, streams and signals.
  const run = (await store.executions.start({ name: "plans" })).execution.id;
  await store.events.append(run, [{ type: "a", correlationId: "c-1" }, { type: "b" }]);
  await store.events.list(run);
  await store.executions.start({ name: "plans" }, { append: { type: "run_created" } });
  await store.streams.writeMany(run, "out", ["x", { y: 1 }]);
  await store.streams.read(run, "out");
  await store.signals.claim("plans-token", run);
  await store.signals.deliver("plans-token", { ok: true });

  // Tasks that append to their run's history: made together (in batches) and alone, with the
  // history since a number.
  const owners = await Promise.all(
    Array.from({ length: 4 }, () => store.executions.start({ name: "plans", status: "running" })),
  );
  const tasks = await Promise.all(
    owners.map(({ execution }) =>
      store.tasks.create(
        { executionId: execution.id, taskId: "t", status: "running" },
        { append: { type: "created" }, historyAfter: 0 },
      ),
    ),
  );
  await Promise.all(
    tasks.map((task) =>
      store.tasks.update(
        task.taskExecId,
        { status: "completed", output: 1 },
        { expectedStatus: ["running"], append: { type: "completed" }, historyAfter: 0 },
      ),
    ),
  );
  await store.tasks.update(
    tasks[0]?.taskExecId as string,
    { agentId: "a" },
    { append: { type: "noted" }, historyAfter: 1 },
  );
  const pending = await Promise.all(
    Array.from({ length: 4 }, () => store.executions.start({ name: "plans" }, { append: { type: "c" } })),
  );
  await Promise.all(
    pending.map(({ execution }) =>
      store.executions.update(
        execution.id,
        { status: "running" },
        { expectedStatus: "pending", append: { type: "s" }, historyAfter: 0 },
      ),
    ),
  );
  await Promise.all(
    pending.map(({ execution }) => store.executions.complete(execution.id, 1, { append: { type: "d" } })),
  );

  // The queue: enqueue, claims, heartbeats and completions, directly and through a worker.
  await store.jobs.enqueue([
    { queue: "q", name: "n" },
    { queue: "q", name: "n", runAt: new Date(Date.now() + 60_000) },
  ]);
  const claimed = await store.jobs.claim({ queue: "q", workerId: "w", limit: 10 });
  await store.jobs.heartbeat(claimed);
  await store.jobs.complete(claimed);
  await store.jobs.enqueue(Array.from({ length: 20 }, (_, i) => ({ queue: "w", name: "n", payload: { i } })));
  let done = 0;
  const worker = store.jobs.work({
    queue: "w",
    handler: async () => {
      done++;
    },
  });
  await expect.poll(() => done, { timeout: 10_000 }).toBe(20);
  await worker.stop();
  // A queue with groups and a limit: its claims take turns between the groups.
  await store.jobs.setLimits("g", { groupConcurrency: 2 });
  await store.jobs.enqueue(
    Array.from({ length: 6 }, (_, i) => ({ queue: "g", name: "n", group: `t${i % 2}` })),
  );
  for (let round = 0; round < 3; round++) {
    const some = await store.jobs.claim({ queue: "g", workerId: "w", limit: 4 });
    if (some.length) await store.jobs.complete(some);
  }
  // The counts the dashboard samples every few seconds, of every queue and of one.
  await store.jobs.stats();
  await store.jobs.stats("g");

  // The LangGraph adapters.
  const saver = new FlowstoreSaver({ store, scope: "plans" });
  const config = await saver.put(
    { configurable: { thread_id: "t" } },
    { ...emptyCheckpoint(), id: uuid6(0) },
    { source: "input", step: -1, parents: {} },
    {},
  );
  await saver.putWrites(config, [["out", 1]], "task");
  await saver.getTuple(config);
  await saver.getTuple({ configurable: { thread_id: "t" } });
  for await (const _ of saver.list({ configurable: { thread_id: "t" } }, { limit: 5 })) {
    // Read through, as a caller listing a thread's history does.
  }
  const items = new FlowstoreStore({ store, scope: "plans" });
  await items.put(["users"], "u1", { a: 1 });
  await items.get(["users"], "u1");
  await items.search(["users"], { filter: { a: 1 }, limit: 5 });
  await items.listNamespaces({ limit: 5 });
  await items.delete(["users"], "u1");

  // The Workflow SDK's World: a run with a step, a hook and a wait, read back as the runtime does.
  const world = createWorld({ store });
  const runId = runIdOf(uuidv7());
  const data = new Uint8Array([1, 2]);
  await world.events.create(runId, {
    eventType: "run_created",
    specVersion: 5,
    eventData: { deploymentId: "d1", workflowName: "wf", input: data },
  } as never);
  await world.events.create(runId, { eventType: "run_started", specVersion: 5 } as never);
  await world.events.create(runId, {
    eventType: "step_created",
    correlationId: "s1",
    eventData: { stepName: "a", input: data },
  } as never);
  await world.events.create(runId, { eventType: "step_started", correlationId: "s1" } as never);
  await world.events.create(runId, {
    eventType: "step_completed",
    correlationId: "s1",
    eventData: { result: data },
  } as never);
  await world.events.create(runId, {
    eventType: "hook_created",
    correlationId: "h1",
    eventData: { token: "workload-token" },
  } as never);
  await world.events.create(runId, {
    eventType: "wait_created",
    correlationId: "w1",
    eventData: { resumeAt: new Date() },
  } as never);
  await world.events.list({ runId });
  await world.steps.list({ runId });
  await world.hooks.getByToken("workload-token");
  await world.runs.get(runId);
  await world.runs.list({});
}
