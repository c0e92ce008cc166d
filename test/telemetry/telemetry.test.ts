/**
 * OpenTelemetry, with the SDK's in-memory exporter and a pull metric reader registered as an
 * application would: a span per store operation (database client conventions) with the execution's
 * and step's ids; "send {queue}" and "process {queue}" spans by the messaging conventions, one trace
 * from the enqueue to the handler through the job's stored context; the metrics of a known workload;
 * and nothing at all with telemetry off.
 */
import { context, metrics, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  type DataPoint,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NotFoundError, type Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

class PullReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const spans = new InMemorySpanExporter();
const reader = new PullReader();

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
  );
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
});
afterAll(() => {
  trace.disable();
  metrics.disable();
  context.disable();
  propagation.disable();
});
beforeEach(() => spans.reset());

function finished(name: string): ReadableSpan[] {
  return spans.getFinishedSpans().filter((span) => span.name === name);
}

function one(name: string): ReadableSpan {
  const found = finished(name);
  expect(found, `spans named ${name}`).toHaveLength(1);
  return found[0] as ReadableSpan;
}

/** The data points of a metric, from a fresh collection, whose attributes include `where`. */
async function points(name: string, where: Record<string, unknown> = {}): Promise<DataPoint<unknown>[]> {
  const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
  const metric = resourceMetrics.scopeMetrics
    .flatMap((scope) => scope.metrics)
    .find((m) => m.descriptor.name === name);
  return ((metric?.dataPoints ?? []) as DataPoint<unknown>[]).filter((point) =>
    Object.entries(where).every(([key, value]) => point.attributes[key] === value),
  );
}

function histogramCount(point: DataPoint<unknown> | undefined): number {
  return (point?.value as { count: number } | undefined)?.count ?? 0;
}

forEachDriver((driver) => {
  describe("OpenTelemetry", () => {
    let store: Store;
    beforeAll(async () => {
      store = await driver.open();
    });

    it("makes a span per store operation, with the execution's and the step's ids", async () => {
      const tracer = trace.getTracer("test");
      const id = await tracer.startActiveSpan("request", async (request) => {
        const { execution } = await store.executions.start({ name: "order", status: "running" });
        await store.steps.record({ executionId: execution.id, number: 0, name: "charge", output: 1 });
        await store.executions.complete(execution.id, { output: "done" });
        request.end();
        return execution.id;
      });
      const request = one("request");
      const start = one("executions.start");
      expect(start.kind).toBe(SpanKind.CLIENT);
      expect(start.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
      expect(start.attributes).toMatchObject({
        "db.system.name": "postgresql",
        "db.namespace": store.schema,
        "db.operation.name": "executions.start",
        "flowstore.execution.id": id,
      });
      expect(one("steps.record").attributes).toMatchObject({
        "flowstore.execution.id": id,
        "flowstore.step.name": "charge",
        "flowstore.step.number": 0,
      });
      expect(one("executions.complete").attributes["flowstore.execution.id"]).toBe(id);
      // The repositories' calls of their own methods make no spans of their own.
      expect(spans.getFinishedSpans().map((span) => span.name)).toEqual([
        "executions.start",
        "steps.record",
        "executions.complete",
        "request",
      ]);
    });

    it("marks a failed operation with its error", async () => {
      await expect(store.executions.get("0190e7a0-0000-7000-8000-000000000000")).rejects.toBeInstanceOf(
        NotFoundError,
      );
      const get = one("executions.get");
      expect(get.status.code).toBe(SpanStatusCode.ERROR);
      expect(get.attributes["error.type"]).toBe("NOT_FOUND");
      expect(get.events.map((event) => event.name)).toContain("exception");
    });

    it("carries the trace from the enqueue to the handler, and marks a failed run", async () => {
      const tracer = trace.getTracer("test");
      const jobId = await tracer.startActiveSpan("request", async (request) => {
        const id = await store.jobs.enqueue({ queue: "traced", name: "mail", payload: { fail: true } });
        request.end();
        return id;
      });
      const send = one("send traced");
      expect(send.kind).toBe(SpanKind.PRODUCER);
      expect(send.parentSpanContext?.spanId).toBe(one("request").spanContext().spanId);
      expect(send.attributes).toMatchObject({
        "messaging.system": "flowstore",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": "traced",
        "messaging.message.id": jobId,
      });
      // The context went into the job: the span's trace and its own id.
      const [claimed] = await store.jobs.claim({ queue: "traced", workerId: "peek", leaseMs: 1 });
      expect(JSON.parse(claimed?.traceContext ?? "{}").traceparent).toContain(send.spanContext().spanId);
      await store.jobs.release([claimed as NonNullable<typeof claimed>]);

      let runs = 0;
      const worker = store.jobs.work({
        queue: "traced",
        handler: async (job) => {
          runs++;
          await store.kv.set("handled", job.id, String(runs));
          if (runs === 1) throw new Error("first run fails");
        },
      });
      await until(() => finished("process traced").length === 2 && runs === 2);
      await worker.stop();
      const [failed, succeeded] = finished("process traced").sort(
        (a, b) =>
          Number(a.attributes["flowstore.job.attempt"]) - Number(b.attributes["flowstore.job.attempt"]),
      ) as [ReadableSpan, ReadableSpan];
      for (const run of [failed, succeeded]) {
        expect(run.kind).toBe(SpanKind.CONSUMER);
        expect(run.spanContext().traceId).toBe(send.spanContext().traceId);
        expect(run.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
        expect(run.links.map((link) => link.context.spanId)).toEqual([send.spanContext().spanId]);
        expect(run.attributes).toMatchObject({
          "messaging.operation.type": "process",
          "messaging.destination.name": "traced",
          "messaging.message.id": jobId,
          "flowstore.job.name": "mail",
        });
      }
      expect(failed.status.code).toBe(SpanStatusCode.ERROR);
      expect(failed.attributes["error.type"]).toBe("Error");
      expect(succeeded.status.code).toBe(SpanStatusCode.UNSET);
      // The worker's own calls of the queue (claims, completions, failures) are not the caller's spans.
      expect([...new Set(spans.getFinishedSpans().map((span) => span.name))].sort()).toEqual([
        "jobs.claim",
        "jobs.release",
        "kv.set",
        "process traced",
        "request",
        "send traced",
      ]);
      // The handler's own store operations are children of its run.
      const sets = finished("kv.set");
      expect(sets.map((set) => set.parentSpanContext?.spanId).sort()).toEqual(
        [failed, succeeded].map((run) => run.spanContext().spanId).sort(),
      );
    });

    it("traces a typed queue as the queue: a send per enqueue, a process per run, no span of its own", async () => {
      const queue = store.jobs.queue<{ mail: { to: string } }>("typed");
      await queue.enqueue("mail", { to: "ada" });
      const worker = queue.work({ handler: () => {} });
      await until(() => finished("process typed").length === 1);
      await worker.stop();
      expect(one("process typed").parentSpanContext?.spanId).toBe(one("send typed").spanContext().spanId);
      expect([...new Set(spans.getFinishedSpans().map((span) => span.name))].sort()).toEqual([
        "process typed",
        "send typed",
      ]);
    });

    it("puts a transactional handler's transaction and completion inside its run's span", async () => {
      const queue = `tx-${driver.name}`;
      await store.jobs.enqueue({ queue, name: "t" });
      const worker = store.jobs.work({
        queue,
        transactional: true,
        handler: async (job, { tx }) => {
          await tx.kv.set("tx-handled", job.id, "yes");
        },
      });
      await until(() => finished(`process ${queue}`).length === 1 && finished("jobs.complete").length === 1);
      await worker.stop();
      const run = one(`process ${queue}`);
      for (const name of ["kv.set", "jobs.complete"]) {
        expect(one(name).parentSpanContext?.spanId).toBe(run.spanContext().spanId);
      }
    });

    it("names a batch of several queues by its size", async () => {
      await store.jobs.enqueue([
        { queue: "batch-a", name: "x" },
        { queue: "batch-b", name: "y" },
        { queue: "batch-a", name: "z" },
      ]);
      const send = one("send");
      expect(send.attributes["messaging.batch.message_count"]).toBe(3);
      expect(send.attributes["messaging.destination.name"]).toBeUndefined();
      expect(send.attributes["messaging.message.id"]).toBeUndefined();
    });

    it("counts a known workload, and reports the queue's state as gauges", async () => {
      // Metrics add up over the file: each driver has its own queue.
      const queue = `metered-${driver.name}`;
      await store.jobs.enqueue([1, 2, 3].map((n) => ({ queue, name: `j${n}`, maxAttempts: 2 })));
      await store.jobs.enqueue({ queue, name: "j4", maxAttempts: 2 });
      await store.jobs.enqueue({ queue, name: "dies", maxAttempts: 1 });
      const ready = await points("flowstore.queue.jobs", {
        "messaging.destination.name": queue,
        "flowstore.job.state": "ready",
      });
      expect(ready.map((point) => point.value)).toEqual([5]);
      let failedOnce = false;
      const worker = store.jobs.work({
        queue,
        handler: (job) => {
          if (job.name === "dies") throw new Error("always");
          if (job.name === "j2" && !failedOnce) {
            failedOnce = true;
            throw new Error("once");
          }
        },
      });
      const on = { "messaging.destination.name": queue };
      await until(async () => {
        const [point] = await points("messaging.client.consumed.messages", on);
        return point?.value === 6;
      }); // six runs: five jobs and one retry
      await worker.stop();
      expect((await points("messaging.client.sent.messages", on)).map((p) => p.value)).toEqual([5]);
      const process = await points("messaging.process.duration", on);
      expect(histogramCount(process.find((p) => p.attributes["error.type"] === undefined))).toBe(4);
      expect(histogramCount(process.find((p) => p.attributes["error.type"] === "Error"))).toBe(2);
      const sends = await points("messaging.client.operation.duration", on);
      expect(histogramCount(sends[0])).toBe(3);
      const waits = await points("flowstore.job.schedule_to_start.duration", on);
      expect(histogramCount(waits[0])).toBe(6);
      const dead = await points("flowstore.queue.jobs", { ...on, "flowstore.job.state": "dead" });
      expect(dead.map((point) => point.value)).toEqual([1]);
      const gets = await points("db.client.operation.duration", { "db.operation.name": "executions.get" });
      expect(histogramCount(gets.find((p) => p.attributes["error.type"] === "NOT_FOUND"))).toBeGreaterThan(0);
    });

    it("records nothing and stores no context with telemetry off", async () => {
      const off = await driver.open({ telemetry: false });
      await trace.getTracer("test").startActiveSpan("request", async (request) => {
        await off.jobs.enqueue({ queue: "untraced", name: "x" });
        await off.executions.start({ name: "quiet" });
        request.end();
      });
      expect(spans.getFinishedSpans().map((span) => span.name)).toEqual(["request"]);
      const [job] = await off.jobs.claim({ queue: "untraced", workerId: "w" });
      expect(job?.traceContext).toBeNull();
    });
  });
});
