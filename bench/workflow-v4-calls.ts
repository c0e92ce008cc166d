/**
 * The World calls @workflow/core 4.8.9 makes for the benchmark's three-step workflow, made directly,
 * without the runtime: no replay in a sandbox, no serialization of its own, no step registry. What a
 * World costs, apart from what the SDK costs around it. The calls, their order and their arguments are
 * the runtime's, as a World sees them (recorded by wrapping a World under the runtime):
 *
 * - start(): the run's flow message is queued and run_created written at once (4.x's resilient start:
 *   a flow delivery that comes first makes the run from the message, and run_created then conflicts);
 * - each flow delivery writes run_started, then, but at the first (whose message carries the run's
 *   input), lists the run's events to replay them; it then writes step_created and queues the step's
 *   message (keyed by the step's id), or run_completed once the third step has completed;
 * - each step delivery writes step_started and step_completed and queues the flow's message.
 *
 * Per run: 15 events written, 7 messages queued, 3 lists of events. The handlers are each World's own
 * createQueueHandler, as the runtime makes them, and the World delivers to them as it delivers to the
 * runtime's.
 */
import { randomBytes } from "node:crypto";
import { encodeUlid } from "../src/adapters/workflow/ids.js";
import { type BenchWorld, type SdkRuntime, STEPS } from "./workflow-worlds.js";

type Handler = (request: Request) => Promise<Response>;

/** The parts of a spec-3 World the calls use. */
interface CallsWorld extends BenchWorld {
  queue(name: string, message: unknown, options?: Record<string, unknown>): Promise<unknown>;
  createQueueHandler(
    prefix: string,
    handler: (message: unknown, meta: { attempt: number }) => Promise<unknown>,
  ): Handler;
  events: {
    create(runId: string, event: Record<string, unknown>, params?: Record<string, unknown>): Promise<unknown>;
    list(params: Record<string, unknown>): Promise<{ data: { eventType: string }[] }>;
  };
}

const DEPLOYMENT = "bench";
const STEP_NAME = "step//bench//add";
const FLOW_QUEUE = (workflowName: string) => `__wkf_workflow_${workflowName}`;
const STEP_QUEUE = `__wkf_step_${STEP_NAME}`;

/** A ULID of now, as the runtime makes run and step ids. */
function ulid(): string {
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(Date.now(), 0, 6);
  randomBytes(10).copy(bytes, 6);
  return encodeUlid(bytes);
}

/** A value as the runtime serializes one (devalue's text, as bytes). */
const bytes = (value: unknown) => new TextEncoder().encode(`devl${JSON.stringify([value])}`);

/** The calls, as a runtime for runSide; `serve` gets the World's flow and step handlers to serve. */
export function callsRuntime(serve: (handlers: { flow: Handler; step: Handler }) => void): SdkRuntime {
  let world: CallsWorld | undefined;
  return {
    use(given) {
      const w = given as CallsWorld;
      world = w;
      const flow = w.createQueueHandler("__wkf_workflow_", async (message) => {
        const { runId, runInput } = message as { runId: string; runInput?: { workflowName: string } };
        const started = await w.events.create(
          runId,
          runInput
            ? { eventType: "run_started", specVersion: 3, eventData: runInput }
            : { eventType: "run_started", specVersion: 3 },
          {},
        );
        const workflowName =
          runInput?.workflowName ?? (started as { run: { workflowName: string } }).run.workflowName;
        const done = runInput
          ? 0
          : (await w.events.list({ runId, pagination: { sortOrder: "asc" } })).data.filter(
              (event) => event.eventType === "step_completed",
            ).length;
        if (done === STEPS) {
          await w.events.create(
            runId,
            { eventType: "run_completed", specVersion: 3, eventData: { output: bytes(done) } },
            { stateUpdatedAt: Date.now() },
          );
          return;
        }
        const stepId = `step_${ulid()}`;
        await w.events.create(
          runId,
          {
            eventType: "step_created",
            specVersion: 3,
            correlationId: stepId,
            eventData: { stepName: STEP_NAME, workflowName, input: bytes({ args: [done, done + 1] }) },
          },
          { stateUpdatedAt: Date.now() },
        );
        await w.queue(
          STEP_QUEUE,
          {
            workflowName,
            workflowRunId: runId,
            workflowStartedAt: Date.now(),
            stepId,
            traceCarrier: {},
            requestedAt: new Date().toISOString(),
          },
          { idempotencyKey: stepId, headers: {} },
        );
      });
      const step = w.createQueueHandler("__wkf_step_", async (message) => {
        const { workflowName, workflowRunId: runId, stepId } = message as Record<string, string>;
        await w.events.create(
          runId as string,
          {
            eventType: "step_started",
            specVersion: 3,
            correlationId: stepId,
            eventData: { stepName: STEP_NAME },
          },
          {},
        );
        await w.events.create(
          runId as string,
          {
            eventType: "step_completed",
            specVersion: 3,
            correlationId: stepId,
            eventData: { stepName: STEP_NAME, workflowName, result: bytes(1) },
          },
          {},
        );
        await w.queue(FLOW_QUEUE(workflowName as string), {
          runId,
          traceCarrier: {},
          requestedAt: new Date().toISOString(),
        });
      });
      serve({ flow, step });
    },
    async start(workflowName, args) {
      const w = world as CallsWorld;
      const runId = `wrun_${ulid()}`;
      const runInput = {
        input: bytes(args),
        deploymentId: DEPLOYMENT,
        workflowName,
        specVersion: 3,
        executionContext: { traceCarrier: {}, workflowCoreVersion: "4.8.9", features: { encryption: false } },
      };
      const { specVersion: _, ...eventData } = runInput;
      // Both at once, as the runtime sends them; the flow's delivery may make the run from the queue's
      // data first, and then run_created's conflict is no error (the runtime's own rule).
      const [created, queued] = await Promise.allSettled([
        w.events.create(runId, { eventType: "run_created", specVersion: 3, eventData }, { v1Compat: false }),
        w.queue(
          FLOW_QUEUE(workflowName),
          { runId, traceCarrier: {}, runInput },
          { deploymentId: DEPLOYMENT, specVersion: 3 },
        ),
      ]);
      if (queued.status === "rejected") throw queued.reason;
      if (created.status === "rejected" && (created.reason as Error)?.name !== "EntityConflictError") {
        throw created.reason;
      }
      return runId;
    },
  };
}
