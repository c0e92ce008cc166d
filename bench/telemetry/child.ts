/**
 * One side of `npm run bench -- telemetry`, in a process of its own so each side meets OpenTelemetry
 * as an application would: absent (the API cannot be resolved: test/fixtures/hide-packages.mjs),
 * the API with no SDK (its no-op), or an SDK recording every span and exporting spans and metrics.
 * Arguments: side, workload (queue | durable), database URL, count. Prints one JSON line of figures.
 */
import { performance } from "node:perf_hooks";
import { openStore } from "../../src/index.js";
import { durableWorkflow } from "../lib.js";

const [side, workload, url, countText] = process.argv.slice(2) as [string, string, string, string];
const count = Number(countText);
const CONCURRENCY = 8;
const WORKFLOWS_IN_FLIGHT = 16;
const STEPS = 10;

/** What the exporting side's exporters wrote: the spans and metric points, serialized as OTLP/JSON would be. */
const exported = { spans: 0, bytes: 0 };

/** Registers the SDK as an application's start-up would; returns what to flush at the end. */
async function registerExportingSdk(): Promise<{ forceFlush(): Promise<void> }> {
  const api = await import("@opentelemetry/api");
  const { AsyncLocalStorageContextManager } = await import("@opentelemetry/context-async-hooks");
  const { W3CTraceContextPropagator, ExportResultCode } = await import("@opentelemetry/core");
  const { BasicTracerProvider, BatchSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = await import(
    "@opentelemetry/sdk-metrics"
  );
  type Done = (result: { code: number }) => void;
  // Serializes what it is given and counts it: an OTLP exporter's work short of the network.
  const spanExporter = {
    export(spans: unknown[], done: Done) {
      exported.spans += spans.length;
      exported.bytes += JSON.stringify(
        spans.map((span) => {
          const s = span as { name: string; attributes: unknown; spanContext(): unknown; links: unknown };
          return { name: s.name, attributes: s.attributes, context: s.spanContext(), links: s.links };
        }),
      ).length;
      done({ code: ExportResultCode.SUCCESS });
    },
    async shutdown() {},
  };
  const metricExporter = {
    export(metrics: unknown, done: Done) {
      exported.bytes += JSON.stringify(metrics).length;
      done({ code: ExportResultCode.SUCCESS });
    },
    async forceFlush() {},
    async shutdown() {},
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
  };
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(spanExporter as never)],
  });
  api.trace.setGlobalTracerProvider(tracerProvider);
  api.metrics.setGlobalMeterProvider(
    new MeterProvider({
      readers: [
        new PeriodicExportingMetricReader({ exporter: metricExporter as never, exportIntervalMillis: 1000 }),
      ],
    }),
  );
  return tracerProvider;
}

async function queue(): Promise<Record<string, number>> {
  const store = await openStore({ connection: url, pool: { max: 12 } });
  const batch = Array.from({ length: count }, (_, i) => ({ queue: "bench", name: "noop", payload: { i } }));
  let t = performance.now();
  for (let i = 0; i < count; i += 5_000) await store.jobs.enqueue(batch.slice(i, i + 5_000));
  const bulk = count / ((performance.now() - t) / 1000);
  const worker = store.jobs.work({ queue: "bench", concurrency: CONCURRENCY, handler: () => {} });
  t = performance.now();
  while (worker.counts.completed < count) await new Promise((resolve) => setTimeout(resolve, 5));
  const drain = count / ((performance.now() - t) / 1000);
  await worker.stop();
  // One job per call, from eight callers: a span (and a stored context) per job.
  const singles = Math.round(count / 10);
  let next = 0;
  t = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < singles) await store.jobs.enqueue({ queue: "single", name: "one" });
    }),
  );
  const single = singles / ((performance.now() - t) / 1000);
  await store.close();
  return { "bulk enqueue jobs/s": bulk, "drain jobs/s": drain, "single enqueue jobs/s": single };
}

async function durable(): Promise<Record<string, number>> {
  const store = await openStore({ connection: url, pool: { max: WORKFLOWS_IN_FLIGHT } });
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: WORKFLOWS_IN_FLIGHT }, async () => {
      while (next < count) {
        await durableWorkflow(store, next++, STEPS);
      }
    }),
  );
  const seconds = (performance.now() - t) / 1000;
  await store.close();
  return { "steps/s": (count * STEPS) / seconds, "workflows/s": count / seconds };
}

const sdk = side === "exporting" ? await registerExportingSdk() : undefined;
const figures = workload === "queue" ? await queue() : await durable();
// The batch processor's last spans go out before the count is read.
await sdk?.forceFlush();
console.log(JSON.stringify({ ...figures, "spans exported": exported.spans }));
