/**
 * The store's spans and metrics through `@opentelemetry/api`, loaded only when installed (load.ts):
 * - a span per store operation (`executions.start`, `steps.record`...) by the database client
 *   conventions, with the execution's id (and a step's name and number) when the call names them;
 * - a PRODUCER span per enqueue, `send {queue}`, whose context is stored with the jobs;
 * - a CONSUMER span per handler run, `process {queue}`, a child of that send span (and linked to it,
 *   as the messaging conventions recommend), so one trace runs from the enqueue to the handler;
 * - the conventions' metrics: operation and process durations, sent and consumed counts, and how
 *   long each job waited past its due time before a handler started it.
 * With the API present but no SDK registered, every span is the API's non-recording one.
 */

import type * as Api from "@opentelemetry/api";
import type { ProcessedJob, SentBatch, Telemetry } from "../core/telemetry.js";
import { observeQueues, type QueueFigures } from "./gauges.js";
import type { TelemetryProviders } from "./providers.js";
import * as C from "./semconv.js";

export const INSTRUMENTATION_SCOPE = "flowstore";

type Attributes = Api.Attributes;

export class OpenTelemetry implements Telemetry {
  readonly meter: Api.Meter;
  private readonly tracer: Api.Tracer;
  private readonly dbDuration: Api.Histogram;
  private readonly operationDuration: Api.Histogram;
  private readonly processDuration: Api.Histogram;
  private readonly scheduleToStart: Api.Histogram;
  private readonly sent: Api.Counter;
  private readonly consumed: Api.Counter;
  private readonly cachedAttributes = new Map<string, Attributes>();
  /** The API's meter with no SDK registered when the store opened: metrics are then off for good. */
  private readonly metricsOff: boolean;
  /** The tracer provider the API gives while no SDK is registered. */
  private readonly noopTracers: unknown;

  constructor(
    private readonly api: typeof Api,
    /** db.namespace: the schema (the database's name is the connection's business). */
    private readonly namespace: string,
    providers: TelemetryProviders = {},
  ) {
    this.tracer = ((providers.tracerProvider as Api.TracerProvider | undefined) ?? api.trace).getTracer(
      INSTRUMENTATION_SCOPE,
    );
    this.meter = ((providers.meterProvider as Api.MeterProvider | undefined) ?? api.metrics).getMeter(
      INSTRUMENTATION_SCOPE,
    );
    this.metricsOff = this.meter === api.createNoopMeter();
    this.noopTracers = providers.tracerProvider ? undefined : new api.ProxyTracerProvider().getDelegate();
    const seconds = (name: string, description: string, buckets: number[]) =>
      this.meter.createHistogram(name, {
        unit: "s",
        description,
        advice: { explicitBucketBoundaries: buckets },
      });
    this.dbDuration = seconds(C.DB_CLIENT_OPERATION_DURATION, "Duration of store operations.", C.DB_BUCKETS);
    this.operationDuration = seconds(
      C.MESSAGING_CLIENT_OPERATION_DURATION,
      "Duration of enqueues (send).",
      C.MESSAGING_BUCKETS,
    );
    this.processDuration = seconds(
      C.MESSAGING_PROCESS_DURATION,
      "Duration of job handlers' runs (process).",
      C.MESSAGING_BUCKETS,
    );
    this.scheduleToStart = seconds(
      C.JOB_SCHEDULE_TO_START,
      "How long a job waited, from its due time until a handler started it.",
      C.MESSAGING_BUCKETS,
    );
    this.sent = this.meter.createCounter(C.MESSAGING_CLIENT_SENT_MESSAGES, {
      unit: "{message}",
      description: "Jobs enqueued.",
    });
    this.consumed = this.meter.createCounter(C.MESSAGING_CLIENT_CONSUMED_MESSAGES, {
      unit: "{message}",
      description: "Jobs handed to a handler.",
    });
  }

  /** Reports the queues `read` gives as gauges at each collection, until the returned function is called. */
  observeQueues(read: () => Promise<QueueFigures[]>): () => void {
    return observeQueues(this.meter, read);
  }

  /**
   * With the API but no SDK, no span records and no metric counts: the work runs as it would without
   * the API. An SDK registered later is seen at the next call (the metrics' only when the store opens).
   */
  private off(): boolean {
    if (!this.metricsOff || this.noopTracers === undefined) return false;
    // The API's own provider (a proxy) until an SDK's is registered, which then is given instead.
    const provider = this.api.trace.getTracerProvider() as Partial<Api.ProxyTracerProvider>;
    return typeof provider.getDelegate === "function" && provider.getDelegate() === this.noopTracers;
  }

  operation<T>(area: string, method: string, args: readonly unknown[], run: () => T): T {
    if (this.off()) return run();
    const name = `${area}.${method}`;
    const metric = this.attributesOf(name, () => ({
      [C.DB_SYSTEM_NAME]: "postgresql",
      [C.DB_OPERATION_NAME]: name,
    }));
    const span = this.tracer.startSpan(name, {
      kind: this.api.SpanKind.CLIENT,
      attributes: {
        ...metric,
        [C.DB_NAMESPACE]: this.namespace,
        [C.DB_QUERY_SUMMARY]: name,
        ...idsOf(area, args),
      },
    });
    const started = performance.now();
    const finish = (error?: unknown) => {
      const recorded = error === undefined ? metric : this.failed(span, error, metric);
      span.end();
      this.dbDuration.record((performance.now() - started) / 1000, recorded);
    };
    let result: T;
    try {
      result = this.api.context.with(this.api.trace.setSpan(this.api.context.active(), span), run);
    } catch (error) {
      finish(error);
      throw error;
    }
    if (!isPromise(result)) {
      finish();
      return result;
    }
    return result.then(
      (value) => {
        if (area === "executions" && span.isRecording()) nameExecution(span, value);
        finish();
        return value;
      },
      (error: unknown) => {
        finish(error);
        throw error;
      },
    ) as T;
  }

  async send<T extends string[]>(
    batch: SentBatch,
    run: (traceContext: string | null) => Promise<T>,
  ): Promise<T> {
    if (this.off()) return run(null);
    const { api } = this;
    const only = batch.queues.size === 1 ? (batch.queues.keys().next().value as string) : undefined;
    const metric: Attributes = {
      [C.MESSAGING_SYSTEM]: C.SYSTEM,
      [C.MESSAGING_OPERATION_NAME]: "send",
      [C.MESSAGING_OPERATION_TYPE]: "send",
    };
    if (only !== undefined) metric[C.MESSAGING_DESTINATION_NAME] = only;
    const attributes: Attributes = { ...metric };
    if (batch.count > 1) attributes[C.MESSAGING_BATCH_MESSAGE_COUNT] = batch.count;
    const span = this.tracer.startSpan(only === undefined ? "send" : `send ${only}`, {
      kind: api.SpanKind.PRODUCER,
      attributes,
    });
    const context = api.trace.setSpan(api.context.active(), span);
    const carrier: Record<string, string> = {};
    api.propagation.inject(context, carrier);
    const traceContext = Object.keys(carrier).length > 0 ? JSON.stringify(carrier) : null;
    const started = performance.now();
    let recorded = metric;
    try {
      const ids = await api.context.with(context, () => run(traceContext));
      if (batch.count === 1 && ids[0] !== undefined) span.setAttribute(C.MESSAGING_MESSAGE_ID, ids[0]);
      for (const [queue, count] of batch.queues) {
        this.sent.add(count, { ...metric, [C.MESSAGING_DESTINATION_NAME]: queue });
      }
      return ids;
    } catch (error) {
      recorded = this.failed(span, error, metric);
      throw error;
    } finally {
      span.end();
      this.operationDuration.record((performance.now() - started) / 1000, recorded);
    }
  }

  async process<T>(job: ProcessedJob, waitedMs: number, run: () => Promise<T>): Promise<T> {
    if (this.off()) return run();
    const { api } = this;
    // Not the worker's own context: a handler's run belongs to the trace that enqueued its job, if any.
    const carrier = parseCarrier(job.traceContext);
    const parent = carrier ? api.propagation.extract(api.ROOT_CONTEXT, carrier) : api.ROOT_CONTEXT;
    const creation = carrier ? api.trace.getSpanContext(parent) : undefined;
    const metric = this.attributesOf(`process\u0000${job.queue}`, () => ({
      [C.MESSAGING_SYSTEM]: C.SYSTEM,
      [C.MESSAGING_OPERATION_NAME]: "process",
      [C.MESSAGING_DESTINATION_NAME]: job.queue,
    }));
    const attributes: Attributes = {
      ...metric,
      [C.MESSAGING_OPERATION_TYPE]: "process",
      [C.MESSAGING_MESSAGE_ID]: job.id,
      [C.JOB_NAME]: job.name,
      [C.JOB_ATTEMPT]: job.attempts,
    };
    if (job.executionId) attributes[C.EXECUTION_ID] = job.executionId;
    const span = this.tracer.startSpan(
      `process ${job.queue}`,
      {
        kind: api.SpanKind.CONSUMER,
        attributes,
        links: creation && api.isSpanContextValid(creation) ? [{ context: creation }] : [],
      },
      parent,
    );
    const started = performance.now();
    this.consumed.add(1, metric);
    this.scheduleToStart.record(Math.max(0, waitedMs) / 1000, metric);
    let recorded = metric;
    try {
      return await api.context.with(api.trace.setSpan(parent, span), run);
    } catch (error) {
      recorded = this.failed(span, error, metric);
      throw error;
    } finally {
      span.end();
      this.processDuration.record((performance.now() - started) / 1000, recorded);
    }
  }

  /**
   * Marks a span failed with the error, and the metric's attributes with its type. Whatever was
   * thrown (an object without a prototype, a getter that throws), this never throws in its place.
   */
  private failed(span: Api.Span, error: unknown, metric: Attributes): Attributes {
    const type = errorType(error);
    span.setAttribute(C.ERROR_TYPE, type);
    span.setStatus({ code: this.api.SpanStatusCode.ERROR });
    try {
      const sqlState = (error as { sqlState?: unknown } | null)?.sqlState;
      if (typeof sqlState === "string") span.setAttribute(C.DB_RESPONSE_STATUS_CODE, sqlState);
      if (error instanceof Error) {
        span.recordException(error);
        span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: String(error.message) });
      }
    } catch {
      // The span keeps its status and type; the caller's error stands as thrown.
    }
    return { ...metric, [C.ERROR_TYPE]: type };
  }

  /**
   * A metric's attributes, made once per operation or queue: the SDK looks each record's attributes
   * up by their content, and a fresh object per job is garbage the drain need not make.
   */
  private attributesOf(key: string, make: () => Attributes): Attributes {
    let attributes = this.cachedAttributes.get(key);
    if (!attributes) {
      attributes = make();
      // Queue names are the caller's: beyond this many, made each time rather than kept forever.
      if (this.cachedAttributes.size < 10_000) this.cachedAttributes.set(key, attributes);
    }
    return attributes;
  }
}

function isPromise<T>(value: T): value is T & Promise<Awaited<T>> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/** The error's stable code when it is flowstore's (VALIDATION, LEASE_LOST...), else its class's name. */
function errorType(error: unknown): string {
  try {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === "string" && code !== "") return code;
    return error instanceof Error ? error.constructor.name : "_OTHER";
  } catch {
    return "_OTHER";
  }
}

/** The execution (and step) a call names: an execution's id first, or an input's executionId. */
function idsOf(area: string, args: readonly unknown[]): Attributes {
  const first = args[0];
  if (typeof first === "string") return area === "executions" ? { [C.EXECUTION_ID]: first } : {};
  if (typeof first !== "object" || first === null || Array.isArray(first)) return {};
  const input = first as Record<string, unknown>;
  const ids: Attributes = {};
  if (typeof input.executionId === "string") ids[C.EXECUTION_ID] = input.executionId;
  if (area === "steps") {
    if (typeof input.name === "string") ids[C.STEP_NAME] = input.name;
    if (typeof input.number === "number") ids[C.STEP_NUMBER] = input.number;
  }
  return ids;
}

/** The execution the call made or met (start returns `{ execution }`, upsert the execution). */
function nameExecution(span: Api.Span, value: unknown): void {
  const result = value as { id?: unknown; execution?: { id?: unknown } } | null;
  const id = result?.execution?.id ?? result?.id;
  if (typeof id === "string") span.setAttribute(C.EXECUTION_ID, id);
}

/** The stored W3C carrier, or undefined for none or for text that is not one. */
function parseCarrier(text: string | null): Record<string, string> | undefined {
  if (!text) return undefined;
  try {
    const carrier = JSON.parse(text) as unknown;
    return typeof carrier === "object" && carrier !== null ? (carrier as Record<string, string>) : undefined;
  } catch {
    return undefined;
  }
}
