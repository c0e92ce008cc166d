/**
 * Property-based, as input-fuzz.test.ts: the write methods left besides the lease methods
 * (input-fuzz-leases.test.ts): upserting and cancelling executions, a definition's status, deleting
 * durable state, the kv and blob sweeps, and enqueue batches with keys, delays and successors.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { EnqueueJob, LeasedJob, Store } from "../../src/index.js";
import {
  asJson,
  badUuid,
  checkProperty,
  date,
  delayMs,
  goodJson,
  json,
  number,
  optionalText,
  rowCounts,
  text,
  uuid,
  whileRunning,
  writeOrRefuse,
} from "../support/fuzz-inputs.js";
import { forEachDriver } from "../support/harness.js";

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

    // Jobs of queue "fz" the property holds running between runs, so that keys meet running jobs too.
    const held: LeasedJob[] = [];

    // Mostly good jobs, so that batches go in and meet each other's keys; now and then a bad one.
    const job = fc.record({
      key: fc.constantFrom(undefined, "a", "b"),
      delayMs: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(undefined, 0, 1.5, 60_000) },
        { weight: 1, arbitrary: delayMs },
      ),
      // Rare beside delayMs, which most jobs carry: giving both refuses the whole batch.
      delaySeconds: fc.oneof(
        { weight: 30, arbitrary: fc.constant(undefined) },
        { weight: 2, arbitrary: fc.constantFrom(0, 0.002, 90) },
        { weight: 1, arbitrary: delayMs },
      ),
      runAt: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, date),
      whileRunning: fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(undefined, "dedupe", "after", "after") },
        { weight: 1, arbitrary: whileRunning },
      ),
      replace: fc.boolean(),
      payload: goodJson,
    });

    it("jobs.enqueue batches: keys, delays and successors", () =>
      checkProperty(
        [
          // Small batches and batches of ten or more, which reach the statement in two forms.
          fc.oneof(
            { weight: 3, arbitrary: fc.array(job, { minLength: 1, maxLength: 4 }) },
            { weight: 1, arbitrary: fc.array(job, { minLength: 10, maxLength: 12 }) },
          ),
          fc.constantFrom("claim", "complete", "fail", "none"),
        ],
        async (batch, step) => {
          // The queue moves on first: a key's job may be running, retried or gone when the batch comes.
          if (step === "claim")
            held.push(...(await store.jobs.claim({ queue: "fz", workerId: "w", limit: 5 })));
          const lease = step === "complete" || step === "fail" ? held.shift() : undefined;
          if (lease && step === "complete") await store.jobs.complete(lease);
          if (lease && step === "fail") await store.jobs.fail(lease, new Error("again"));
          const jobs = batch.map((job) => ({ queue: "fz", name: "n", ...job }) as EnqueueJob);
          await writeOrRefuse(
            store,
            () => store.jobs.enqueue(jobs),
            async (ids) => {
              expect(ids).toHaveLength(jobs.length);
              for (const [i, job] of jobs.entries()) {
                const times = [job.runAt, job.delayMs, job.delaySeconds].filter((t) => t !== undefined);
                expect(times.length).toBeLessThanOrEqual(1);
                if (job.key !== undefined) expect(ids[i]).toBe(ids[jobs.findIndex((j) => j.key === job.key)]);
              }
              // A job without a key is new: due its delay after it was made (the same now()), or at runAt.
              const { rows } = await store.query<{ id: string; ms: number; run_at: Date }>(
                `select id, (extract(epoch from run_at - created_at) * 1000)::float8 as ms, run_at
                   from ${store.schema}.jobs where id = any($1::uuid[])`,
                [ids],
              );
              for (const [i, job] of jobs.entries()) {
                const row = rows.find((r) => r.id === ids[i]);
                if (job.key !== undefined) continue;
                if (job.runAt) expect(row?.run_at.getTime()).toBe(job.runAt.getTime());
                else {
                  const delay = job.delayMs ?? (job.delaySeconds ?? 0) * 1000;
                  expect(Math.abs((row?.ms ?? -1) - delay)).toBeLessThanOrEqual(0.001);
                }
              }
              // Per key: one job waiting, scheduled or running at most, and a successor only behind one.
              const { rows: keys } = await store.query<{ key: string; holders: number; successors: number }>(
                `select key, count(*) filter (where status in ('waiting', 'scheduled', 'running'))::int as holders,
                        count(*) filter (where status = 'blocked')::int as successors
                   from ${store.schema}.jobs where queue = 'fz' and key is not null group by key`,
              );
              for (const key of keys) {
                expect(key.holders).toBeLessThanOrEqual(1);
                expect(key.successors).toBeLessThanOrEqual(key.holders);
              }
            },
            { unchanged: ["jobs"] },
          );
        },
      ));

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
