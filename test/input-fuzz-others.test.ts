/**
 * Property-based, as input-fuzz.test.ts: the write methods left besides the lease methods
 * (input-fuzz-leases.test.ts): upserting and cancelling executions, a definition's status, deleting
 * durable state, and the kv and blob sweeps.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../src/index.js";
import {
  asJson,
  badUuid,
  checkProperty,
  json,
  number,
  optionalText,
  rowCounts,
  text,
  uuid,
  writeOrRefuse,
} from "./fuzz-inputs.js";
import { forEachDriver } from "./harness.js";

const optionalNumber = fc.oneof(fc.constant(undefined), number);

forEachDriver((driver) => {
  describe("more write methods, fuzzed", () => {
    let store: Store;
    let definitionId: string;
    let statusDefinitionId: string;
    let n = 0;

    beforeAll(async () => {
      store = await driver.open();
      definitionId = (await store.definitions.create({ name: "fuzz", definition: {}, status: "active" })).id;
      statusDefinitionId = (await store.definitions.create({ name: "fuzz-status", definition: {} })).id;
    });

    const executionId = fc
      .constantFrom("own", "OWN", "child")
      .chain((which) => fc.oneof({ weight: 3, arbitrary: fc.constant(which) }, uuid, badUuid));

    it("executions.upsert", () =>
      checkProperty(
        [
          executionId,
          fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, uuid, badUuid),
          fc.constantFrom<unknown>("pending", "running", "completed", "failed", "cancelled", "bogus", null),
          json,
          json,
          optionalText,
        ],
        async (which, defId, status, input, state, idempotencyKey) => {
          const { execution } = await store.executions.start({ definitionId });
          const id =
            which === "own" || which === "child"
              ? execution.id
              : which === "OWN"
                ? execution.id.toUpperCase()
                : which;
          await writeOrRefuse(
            store,
            () =>
              store.executions.upsert({
                id: id as string,
                definitionId: (defId ?? definitionId) as string,
                status: status as "pending",
                input,
                state,
                idempotencyKey: idempotencyKey as string | undefined,
              }),
            async (written) => {
              const read = await store.executions.get(written.id);
              expect(read.id).toBe(String(id).toLowerCase());
              expect(read.status).toBe(status);
              expect(read.input).toEqual(input === undefined ? null : asJson(input));
              expect(read.state).toEqual(state === undefined ? null : asJson(state));
              expect(read.idempotencyKey).toBe(idempotencyKey ?? null);
            },
          );
        },
      ));

    it("executions.cancel", () =>
      checkProperty(
        [executionId, fc.oneof(fc.constant(undefined), fc.boolean()), optionalNumber],
        async (which, cascade, expectedVersion) => {
          const { execution } = await store.executions.start({ definitionId });
          const child = (await store.executions.start({ definitionId, parentExecutionId: execution.id }))
            .execution;
          const id =
            which === "own"
              ? execution.id
              : which === "OWN"
                ? execution.id.toUpperCase()
                : which === "child"
                  ? child.id
                  : which;
          await writeOrRefuse(
            store,
            () =>
              store.executions.cancel(id as string, {
                cascade,
                expectedVersion: expectedVersion as number | undefined,
              }),
            async (cancelled) => {
              expect((await store.executions.get(cancelled.id)).status).toBe("cancelled");
              if (cascade && cancelled.id === execution.id) {
                expect((await store.executions.get(child.id)).status).toBe("cancelled");
              }
            },
          );
        },
      ));

    it("definitions.setStatus", () =>
      checkProperty(
        [
          fc.oneof({ weight: 3, arbitrary: fc.constantFrom("own", "OWN") }, uuid, badUuid),
          fc.constantFrom<unknown>("draft", "active", "deprecated", "archived", "ACTIVE", "bogus", "", null),
        ],
        (which, status) => {
          const id =
            which === "own" ? statusDefinitionId : which === "OWN" ? statusDefinitionId.toUpperCase() : which;
          return writeOrRefuse(
            store,
            () => store.definitions.setStatus(id as string, status as "active"),
            async (definition) => {
              expect((await store.definitions.get(definition.id)).status).toBe(status);
            },
          );
        },
      ));

    it("durableState.delete", () =>
      checkProperty([text, fc.boolean()], async (persistenceId, written) => {
        if (written) {
          const state = { persistenceId: persistenceId as string, version: 1, payload: new Uint8Array([1]) };
          await store.durableState.write({ ...state, manifest: "m" }).catch(() => undefined);
        }
        await writeOrRefuse(
          store,
          () => store.durableState.delete(persistenceId as string),
          async () => expect(await store.durableState.latest(persistenceId as string)).toBeUndefined(),
        );
      }));

    it("kv.sweepExpired", () =>
      checkProperty([optionalNumber, optionalNumber], async (batchSize, maxBatches) => {
        for (const key of ["a", "b", "c"]) await store.kv.set("sweep", `${n}-${key}`, "v", { ttlMs: 1 });
        n++;
        let before: Record<string, number> = {};
        await writeOrRefuse(
          store,
          async () => {
            before = await rowCounts(store);
            return store.kv.sweepExpired({
              batchSize: batchSize as number | undefined,
              maxBatches: maxBatches as number | undefined,
            });
          },
          async (swept) => {
            expect(Number.isInteger(swept) && swept >= 0).toBe(true);
            expect((before.kv ?? 0) - ((await rowCounts(store)).kv ?? 0)).toBe(swept);
          },
        );
      }));

    it("blobs.collectGarbage", () =>
      checkProperty(
        [
          fc.oneof(
            fc.constant(undefined),
            number,
            fc.record({ limit: optionalNumber, graceMs: optionalNumber }, { requiredKeys: [] }),
            fc.constantFrom<unknown>(null, "x"),
          ),
        ],
        (options) =>
          writeOrRefuse(
            store,
            () => store.blobs.collectGarbage(options as number),
            async (removed) => expect(Number.isInteger(removed) && removed >= 0).toBe(true),
            { unchanged: ["blob_pending", "blob_garbage"] },
          ),
      ));
  });
});
