/**
 * Property-based, as input-fuzz.test.ts: the write methods of event history and signals, and fork and
 * rewind, which cut a run's history at a step. Each either
 * succeeds and reads back what it was given, or throws a ValidationError, ConflictError or
 * NotFoundError and leaves every table's row count as it was.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { HistoryEvent, Store } from "../../src/index.js";
import {
  asJson,
  badUuid,
  checkProperty,
  json,
  number,
  optionalText,
  text,
  uuid,
  writeOrRefuse,
} from "../support/fuzz-inputs.js";
import { forEachDriver } from "../support/harness.js";

const payload = fc.oneof(
  { weight: 3, arbitrary: json },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, new ArrayBuffer(2), new Uint16Array(2)) },
);

/** What a payload reads back as: bytes as a Buffer (to compare), JSON as JSON, nothing as null. */
function readBack(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value);
  return value === undefined ? null : asJson(value);
}

forEachDriver((driver) => {
  describe("history write methods, fuzzed", () => {
    let store: Store;
    let definitionId: string;
    let holder: string;

    beforeAll(async () => {
      store = await driver.open();
      definitionId = (await store.definitions.create({ name: "fuzz", definition: {}, status: "active" })).id;
      holder = (await store.executions.start({ definitionId })).execution.id;
      await store.signals.claim("held", holder);
    });

    /** A fresh execution's id as given, in upper case, another UUID or not a UUID. */
    const executionId = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom("own", "OWN") },
      { weight: 1, arbitrary: uuid },
      { weight: 1, arbitrary: badUuid },
    );
    const pick = async (which: unknown) => {
      const { execution } = await store.executions.start({ definitionId });
      return which === "own" ? execution.id : which === "OWN" ? execution.id.toUpperCase() : which;
    };

    it("events.append", () =>
      checkProperty(
        [executionId, text, payload, optionalText, fc.oneof(fc.constant(undefined), number), fc.boolean()],
        async (which, type, value, correlationId, expectedLastSequence, many) => {
          const id = (await pick(which)) as string;
          const event = { type: type as string, payload: value, correlationId: correlationId as string };
          const options = { expectedLastSequence: expectedLastSequence as number | undefined };
          await writeOrRefuse(
            store,
            async (): Promise<HistoryEvent[]> =>
              many
                ? store.events.append(id, [event, { type: "second" }], options)
                : [await store.events.append(id, event, options)],
            async ([appended]) => {
              const read = await store.events.get(id, appended?.sequence as number);
              expect(read.type).toBe(type);
              expect(read.executionId).toBe(id.toLowerCase());
              expect(readBack(read.payload)).toEqual(readBack(value));
              expect(read.correlationId).toBe(correlationId ?? null);
              expect(await store.events.lastSequence(id)).toBe(many ? 2 : 1);
            },
          );
        },
      ));

    it("signals.claim, release and deliver", () =>
      checkProperty(
        [
          fc.constantFrom("claim", "release", "deliver"),
          fc.oneof({ weight: 1, arbitrary: fc.constant("held") }, { weight: 3, arbitrary: text }),
          executionId,
          payload,
          optionalText,
        ],
        async (method, token, which, value, type) => {
          const id = (await pick(which)) as string;
          await writeOrRefuse(
            store,
            async (): Promise<unknown> =>
              method === "claim"
                ? store.signals.claim(token as string, id, { metadata: value, ifHeld: "return" })
                : method === "release"
                  ? store.signals.release(token as string, { executionId: id })
                  : store.signals.deliver(token as string, value, {
                      type: type as string | undefined,
                      ifNotHeld: "return",
                    }),
            async (result) => {
              if (method === "claim") {
                const held = await store.signals.get(token as string);
                expect(held?.executionId).toBe(token === "held" ? holder : id.toLowerCase());
                if (token !== "held") expect(readBack(held?.metadata)).toEqual(readBack(value));
              } else if (method === "deliver") {
                const delivery = result as { delivered: boolean; event?: HistoryEvent };
                expect(delivery.delivered).toBe(token === "held");
                if (delivery.event) {
                  const read = await store.events.get(holder, delivery.event.sequence);
                  expect(readBack(read.payload)).toEqual(readBack(value));
                  expect(read).toMatchObject({ type: type ?? "signal", correlationId: "held" });
                }
              } else {
                expect(result).toBe(false);
              }
            },
          );
        },
      ));

    it("executions.fork and rewind", () =>
      checkProperty(
        [
          fc.constantFrom("fork", "rewind"),
          executionId,
          fc.oneof(
            { weight: 3, arbitrary: fc.integer({ min: 0, max: 4 }) },
            { weight: 2, arbitrary: number },
          ),
          fc.constantFrom<unknown>(undefined, true, false, "yes"),
        ],
        async (method, which, step, force) => {
          // A finished run of three steps, each after an event.
          const { execution } = await store.executions.start({ definitionId, status: "running" });
          for (const n of [0, 1, 2]) {
            await store.events.append(execution.id, { type: `before ${n}` });
            await store.steps.record({ executionId: execution.id, number: n, name: `s${n}` });
          }
          await store.executions.complete(execution.id);
          const id = which === "own" ? execution.id : which === "OWN" ? execution.id.toUpperCase() : which;
          const options = {
            force: force as boolean,
            ...(method === "fork" ? { fromStep: step } : { toStep: step }),
          };
          await writeOrRefuse(
            store,
            () =>
              method === "fork"
                ? store.executions.fork(id as string, options as { fromStep: number })
                : store.executions.rewind(id as string, options as { toStep: number }),
            async (run) => {
              const kept = Math.min(step as number, 3);
              expect((await store.steps.list(run.id)).length).toBe(kept);
              expect((await store.events.list(run.id)).items.map((e) => e.type)).toEqual(
                [0, 1, 2].slice(0, kept).map((n) => `before ${n}`),
              );
              expect(run.status).toBe("pending");
            },
          );
        },
      ));
  });
});
