/** The example engine (examples/order-engine): runs orders to completion on a store of its own. */
import { afterAll, describe, expect, it } from "vitest";
import { DEFINITION_NAME, startOrderEngine } from "../../examples/order-engine/index.js";
import type { Store } from "../../src/index.js";
import { createTestStore } from "../../src/testing/index.js";

let store: Store;
afterAll(async () => store?.close());

describe("example order engine", () => {
  it("runs orders through every step and completes them, then stops cleanly", {
    timeout: 60_000,
  }, async () => {
    store = await createTestStore();
    const engine = await startOrderEngine(store, {
      ratePerSecond: 20,
      maxOrders: 6,
      pickupDelayMs: 50,
      paymentDelayMs: 20,
      failureRate: 0.3,
      pollIntervalMs: 50,
      onError: () => {},
    });
    const deadline = Date.now() + 45_000;
    let progress = await engine.progress();
    const settled = () =>
      progress.completed + progress.failed === 6 && progress.queueDepth === 0 && progress.timers === 0;
    while (!settled() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      progress = await engine.progress();
    }
    await engine.stop();
    expect(progress.started).toBe(6);
    expect(progress.completed + progress.failed).toBe(6);
    expect(progress.completed).toBeGreaterThan(0);

    const { items } = await store.executions.list({ status: "completed", definitionName: DEFINITION_NAME });
    const execution = items[0];
    if (!execution) throw new Error("no completed execution");
    const [root] = (await store.tasks.list({ executionId: execution.id, limit: 1 })).items;
    const tree = await store.tasks.tree(root?.taskExecId as string);
    expect(tree.map((t) => [t.depth, t.taskId, t.status])).toEqual([
      [0, "order", "completed"],
      [1, "validate", "completed"],
      [1, "reserve-stock", "completed"],
      [1, "charge", "completed"],
      [1, "wait-for-pickup", "completed"],
      [1, "ship", "completed"],
    ]);
    const output = execution.output as { invoice: string; invoiceSha256: string };
    const invoice = JSON.parse((await store.blobs.get(output.invoice)).toString());
    expect(invoice.order).toEqual(execution.input);
    expect((await store.componentState.get(execution.id, "payment"))?.state).toMatchObject({
      status: "confirmed",
    });
    expect(await store.correlations.listForExecution(execution.id)).toEqual([]);
    expect(await store.timers.list(execution.id)).toEqual([]);
    // Nothing left behind for finished orders: no jobs, no timers.
    expect(progress).toMatchObject({ queueDepth: 0, timers: 0 });
  });
});
