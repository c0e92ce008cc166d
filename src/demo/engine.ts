/**
 * A small but honest workflow engine for orders, built only on flowstore's public API.
 *
 * Every step is a job on the "orders" queue, run by a transactional worker: the step's state changes,
 * the next steps it enqueues and the job's completion commit together, so a crash or a Ctrl-C between
 * two steps loses nothing and repeats nothing. The flow of one order (one execution):
 *
 *   validate -> reserve-stock  \  (parallel child tasks, created together with tasks.createChildren)
 *            -> charge ........ >  charge waits for a "payment confirmed" event from the payment
 *                              /   provider, routed to the execution by the correlation key payment:<id>
 *   both done -> wait-for-pickup (a durable timer) -> ship (writes an invoice blob, completes the run)
 *
 * reserve-stock fails now and then and is retried by the job queue with backoff; an order whose stock
 * cannot be reserved in MAX_ATTEMPTS tries fails.
 */

import {
  ConflictError,
  type LeasedJob,
  type Store,
  type Task,
  type Transaction,
  ValidationError,
} from "../index.js";
import { DEFINITION_NAME, registerDefinition } from "./definition.js";
import {
  makeOrder,
  type Order,
  type OrderEngineOptions,
  type OrderProgress,
  type StepPayload,
} from "./orders.js";

export type { OrderEngineOptions, OrderProgress } from "./orders.js";

export const ORDERS_QUEUE = "orders";
/** The simulated payment provider: an outside system, reached through its own queue. */
export const PAYMENTS_QUEUE = "payment-provider";
const MAX_ATTEMPTS = 3;
type Worker = ReturnType<Store["jobs"]["work"]>;
type JobContext = Parameters<Parameters<Store["jobs"]["work"]>[0]["handler"]>[1];

const SEQUENCE = { prefix: "order-engine", key: "next-order" } as const;

export class OrderEngine {
  private readonly workers: Worker[] = [];
  private dispatcher: { stop(): Promise<void> } | undefined;
  private starter: NodeJS.Timeout | undefined;
  private startedHere = 0;
  private starting: Promise<void> = Promise.resolve();
  private stopped: Promise<void> | undefined;
  private readonly options: Required<Omit<OrderEngineOptions, "maxOrders">> & { maxOrders?: number };

  constructor(
    readonly store: Store,
    options: OrderEngineOptions = {},
  ) {
    this.options = {
      ratePerSecond: 2,
      failureRate: 0.2,
      pickupDelayMs: 1500,
      paymentDelayMs: 400,
      concurrency: 4,
      leaseMs: 10_000,
      pollIntervalMs: 250,
      onError: (error) => process.stderr.write(`order engine: ${(error as Error)?.message ?? error}\n`),
      ...options,
    };
  }

  /** Registers the definition, then starts the workers, the timer dispatcher and the order starter. */
  async start(): Promise<this> {
    await registerDefinition(this.store);
    const { concurrency, leaseMs, pollIntervalMs, onError } = this.options;
    const common = {
      concurrency,
      leaseMs,
      pollIntervalMs,
      onError,
      transactional: true,
      stopTimeoutMs: 5_000,
    };
    this.workers.push(
      this.store.jobs.work({ ...common, queue: ORDERS_QUEUE, handler: (job, ctx) => this.runStep(job, ctx) }),
      this.store.jobs.work({
        ...common,
        queue: PAYMENTS_QUEUE,
        handler: (job, ctx) => this.confirmPayment(job, ctx),
      }),
    );
    this.dispatcher = this.store.timers.startDispatcher({ pollIntervalMs, onError });
    if (this.options.ratePerSecond > 0) {
      const full = () => this.options.maxOrders !== undefined && this.startedHere >= this.options.maxOrders;
      this.starter = setInterval(() => {
        if (full()) return;
        // One start at a time: the sequence number is read and written in the start's transaction. The
        // limit is checked again in turn, since ticks queue starts faster than a slow machine makes them.
        this.starting = this.starting.then(() =>
          full() ? undefined : this.startOrder().then(() => {}, onError),
        );
      }, 1000 / this.options.ratePerSecond);
    }
    return this;
  }

  /** Stops starting orders, lets running steps finish (or hands their jobs back), stops the timers. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      clearInterval(this.starter);
      await this.starting;
      await Promise.all(this.workers.map((worker) => worker.stop()));
      await this.dispatcher?.stop();
    })();
    return this.stopped;
  }

  /** Counts from the store, so they include what earlier runs of the engine did. */
  async progress(): Promise<OrderProgress> {
    const counts = await this.store.executions.countByStatus({ definitionName: DEFINITION_NAME });
    const stats = await this.store.jobs.stats();
    const { rows } = await this.store.query<{ n: number }>(
      `select count(*)::int as n from "${this.store.schema}".timers`,
    );
    const ours = stats.filter((s) => s.queue === ORDERS_QUEUE || s.queue === PAYMENTS_QUEUE);
    const finished = counts.completed + counts.failed + counts.cancelled + counts.timed_out;
    const running = counts.pending + counts.running + counts.waiting;
    return {
      started: finished + running,
      running,
      completed: counts.completed,
      failed: counts.failed,
      queueDepth: ours.reduce((n, s) => n + s.waiting + s.running, 0),
      timers: rows[0]?.n ?? 0,
    };
  }

  /** Starts one order: the execution, its root and validate tasks, its correlation key, its first job. */
  async startOrder(): Promise<string> {
    const executionId = await this.store.transaction(async (tx) => {
      const sequence = await tx.kv.get(SEQUENCE.prefix, SEQUENCE.key);
      const n = sequence ? Number(Buffer.from(sequence.value).toString()) : 1;
      await tx.kv.set(SEQUENCE.prefix, SEQUENCE.key, String(n + 1), {
        expectedVersion: sequence?.version ?? 0,
      });
      const order = makeOrder(n);
      return this.begin(tx, order, order.orderId, {});
    });
    this.startedHere++;
    return executionId;
  }

  /**
   * Runs an order that failed, was cancelled or timed out again: a new run of the same order from its
   * first step, whose metadata names the run it replays. Replaying one run twice gives the same new run.
   */
  async replay(executionId: string): Promise<string> {
    return this.store.transaction(async (tx) => {
      const old = await tx.executions.get(executionId);
      if (old.name !== DEFINITION_NAME) {
        throw new ValidationError(`only runs of ${DEFINITION_NAME} can be replayed by this engine`, {
          field: "executionId",
        });
      }
      if (!["failed", "cancelled", "timed_out"].includes(old.status)) {
        throw new ConflictError(
          `run ${executionId} is ${old.status}: only a finished run that did not complete is replayed`,
        );
      }
      const order = old.input as Order;
      return this.begin(tx, order, `${order.orderId}/replay-of/${executionId}`, { replayOf: executionId });
    });
  }

  /** A run of `order` with its root and validate tasks, its correlation key and its first job. */
  private async begin(
    tx: Transaction,
    order: Order,
    idempotencyKey: string,
    metadata: Record<string, string>,
  ): Promise<string> {
    const { execution, created } = await tx.executions.start({
      name: DEFINITION_NAME,
      input: order,
      idempotencyKey,
      status: "running",
      metadata: { orderId: order.orderId, customer: order.customer, ...metadata },
    });
    if (!created) return execution.id;
    const root = await tx.tasks.upsert({
      executionId: execution.id,
      taskId: "order",
      workflowId: DEFINITION_NAME,
      status: "running",
      input: order,
    });
    const [validate] = await tx.tasks.createChildren(root.taskExecId, [{ taskId: "validate" }]);
    // The payment provider will confirm by order id; the key routes that event to this run.
    await tx.correlations.add(`payment:${order.orderId}`, execution.id);
    await tx.jobs.enqueue(
      this.step("validate", {
        executionId: execution.id,
        orderId: order.orderId,
        rootTaskId: root.taskExecId,
        taskExecId: validate?.taskExecId,
      }),
    );
    return execution.id;
  }

  private step(name: string, payload: StepPayload, runAt?: Date) {
    return {
      queue: ORDERS_QUEUE,
      name,
      payload,
      executionId: payload.executionId,
      maxAttempts: MAX_ATTEMPTS,
      backoff: { baseMs: 200, maxMs: 2_000 },
      ...(runAt ? { runAt } : {}),
    };
  }

  private async runStep(job: LeasedJob, ctx: JobContext): Promise<void> {
    const tx = ctx.tx as Transaction;
    const payload = job.payload as StepPayload;
    switch (job.name) {
      case "validate":
        return this.validate(tx, payload);
      case "reserve-stock":
        return this.reserveStock(tx, payload, job);
      case "charge":
        return this.charge(tx, payload);
      case "ship":
        return this.ship(tx, payload);
      default:
        throw new Error(`unknown step ${job.name}`);
    }
  }

  private async validate(tx: Transaction, p: StepPayload): Promise<void> {
    const execution = await tx.executions.get(p.executionId);
    const order = execution.input as Order;
    const total = order.items.reduce((sum, item) => sum + item.price * item.quantity, 0);
    await setTask(tx, p.taskExecId as string, { status: "completed", output: { total } });
    await tx.componentState.put(p.executionId, "validator", { total, checkedItems: order.items.length });
    const [reserve, charge] = await tx.tasks.createChildren(p.rootTaskId, [
      { taskId: "reserve-stock", status: "running", executionType: "parallel" },
      { taskId: "charge", status: "running", executionType: "parallel" },
    ]);
    await tx.jobs.enqueue([
      this.step("reserve-stock", { ...p, taskExecId: reserve?.taskExecId }),
      this.step("charge", { ...p, taskExecId: charge?.taskExecId }),
    ]);
  }

  private async reserveStock(tx: Transaction, p: StepPayload, job: LeasedJob): Promise<void> {
    if (Math.random() < this.options.failureRate) {
      const error = new Error("warehouse did not answer");
      if (job.attempts < job.maxAttempts) throw error; // rolled back; the queue retries with backoff
      // The last try: the order fails, and that outcome commits with the job's completion.
      await setTask(tx, p.taskExecId as string, { status: "failed", error: { message: error.message } });
      await tx.tasks.getForUpdate(p.rootTaskId);
      await setTask(tx, p.rootTaskId, { status: "failed" });
      await tx.executions.fail(p.executionId, {
        message: `reserve-stock: ${error.message}`,
        attempts: job.attempts,
      });
      return;
    }
    const order = (await tx.executions.get(p.executionId)).input as Order;
    const reserved = order.items.map((item) => ({
      sku: item.sku,
      quantity: item.quantity,
      bin: `A-${item.sku.length}`,
    }));
    await tx.componentState.put(p.executionId, "inventory", { reserved, attempts: job.attempts });
    await setTask(tx, p.taskExecId as string, { status: "completed", output: { reserved: reserved.length } });
    await this.joinIfReady(tx, p);
  }

  private async charge(tx: Transaction, p: StepPayload): Promise<void> {
    const { total } = ((await tx.componentState.get(p.executionId, "validator"))?.state ?? {}) as {
      total?: number;
    };
    await tx.componentState.put(p.executionId, "payment", {
      amount: total,
      status: "requested",
      rootTaskId: p.rootTaskId,
      chargeTaskId: p.taskExecId,
    });
    await setTask(tx, p.taskExecId as string, { status: "waiting" });
    // Ask the provider; it answers later with an event that carries only the order id.
    await tx.jobs.enqueue({
      queue: PAYMENTS_QUEUE,
      name: "confirm",
      payload: { orderId: p.orderId, amount: total },
      runAt: new Date(Date.now() + this.options.paymentDelayMs),
    });
  }

  /** The payment provider's "payment confirmed" event, routed to the waiting run by its key. */
  private async confirmPayment(job: LeasedJob, ctx: JobContext): Promise<void> {
    const tx = ctx.tx as Transaction;
    const { orderId } = job.payload as { orderId: string };
    for (const { executionId } of await tx.correlations.resolve(`payment:${orderId}`)) {
      const payment = (await tx.componentState.get(executionId, "payment"))?.state as
        | { amount: number; status: string; rootTaskId: string; chargeTaskId: string }
        | undefined;
      if (payment?.status !== "requested") continue;
      await tx.componentState.put(executionId, "payment", {
        ...payment,
        status: "confirmed",
        confirmedAt: new Date(),
      });
      await setTask(tx, payment.chargeTaskId, { status: "completed", output: { paid: payment.amount } });
      await tx.correlations.remove(`payment:${orderId}`, executionId);
      await this.joinIfReady(tx, { executionId, orderId, rootTaskId: payment.rootTaskId });
    }
  }

  /** Run by whichever parallel branch finishes last: the root's lock makes the two take turns. */
  private async joinIfReady(tx: Transaction, p: StepPayload): Promise<void> {
    await tx.tasks.getForUpdate(p.rootTaskId);
    const children = await tx.tasks.listChildren(p.rootTaskId);
    const done = (id: string) => children.find((c) => c.taskId === id)?.status === "completed";
    if (!done("reserve-stock") || !done("charge") || children.some((c) => c.taskId === "wait-for-pickup"))
      return;
    const [wait] = await tx.tasks.createChildren(p.rootTaskId, [
      { taskId: "wait-for-pickup", status: "waiting" },
    ]);
    // A durable timer: it fires (as a "ship" job) even if the engine restarts in between.
    await tx.timers.schedule({
      executionId: p.executionId,
      name: "ship",
      queue: ORDERS_QUEUE,
      fireAt: new Date(Date.now() + this.options.pickupDelayMs),
      payload: { ...p, taskExecId: wait?.taskExecId },
    });
  }

  private async ship(tx: Transaction, p: StepPayload): Promise<void> {
    const execution = await tx.executions.get(p.executionId);
    if (execution.status !== "running") return;
    const order = execution.input as Order;
    await setTask(tx, p.taskExecId as string, { status: "completed" });
    const trackingNo = `TRK-${p.executionId.slice(-8).toUpperCase()}`;
    const [ship] = await tx.tasks.createChildren(p.rootTaskId, [
      { taskId: "ship", status: "completed", output: { trackingNo } },
    ]);
    const payment = (await tx.componentState.get(p.executionId, "payment"))?.state;
    const invoice = {
      invoice: `INV-${order.orderId}`,
      order,
      payment,
      trackingNo,
      issuedAt: new Date().toISOString(),
    };
    const blob = await tx.blobs.put(
      `invoices/${order.orderId}.json`,
      Buffer.from(JSON.stringify(invoice, null, 2)),
      {
        contentType: "application/json",
        executionId: p.executionId,
      },
    );
    await setTask(tx, p.rootTaskId, {
      status: "completed",
      output: { trackingNo, shipTask: ship?.taskExecId },
    });
    await tx.executions.complete(p.executionId, {
      trackingNo,
      invoice: blob.key,
      invoiceSha256: blob.sha256,
    });
  }
}

/** Changes a task's status (and output or error), keeping the rest of it. */
async function setTask(
  tx: Transaction,
  taskExecId: string,
  patch: Pick<Task, "status"> & Partial<Pick<Task, "output" | "error">>,
): Promise<void> {
  const task = await tx.tasks.get(taskExecId);
  await tx.tasks.upsert({ ...task, ...patch });
}

/** Starts the example engine on a store. */
export function startOrderEngine(store: Store, options?: OrderEngineOptions): Promise<OrderEngine> {
  return new OrderEngine(store, options).start();
}
