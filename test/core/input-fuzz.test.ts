/**
 * Property-based: every public write method, given generated input (good and bad of every kind the
 * README's "bad input is a ValidationError with nothing written" must cover), either succeeds and
 * reads back what it was given, or throws a ValidationError, ConflictError or NotFoundError and leaves
 * every table's row count as it was. Never a raw driver error, a bare StoreError, a crash or a hang.
 * Seeded, so a failure (fast-check prints its seed and the shrunk input) replays.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import {
  asJson,
  badUuid,
  bytesOf,
  checkProperty,
  date,
  delayMs,
  json,
  number,
  optionalText,
  text,
  uuid,
  whileRunning,
  writeOrRefuse,
} from "../support/fuzz-inputs.js";
import { forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe("every write method, fuzzed", () => {
    let store: Store;
    let definitionId: string;
    let executionId: string;
    let taskExecId: string;
    const executionIds = fc.oneof(
      { weight: 3, arbitrary: fc.constant(null).map(() => executionId) },
      { weight: 1, arbitrary: uuid },
      { weight: 1, arbitrary: fc.constant(null).map(() => executionId.toUpperCase()) },
      { weight: 1, arbitrary: badUuid },
    );

    beforeAll(async () => {
      store = await driver.open();
      definitionId = (await store.definitions.create({ name: "fuzz", definition: {}, status: "active" })).id;
      executionId = (await store.executions.start({ definitionId })).execution.id;
      taskExecId = (await store.tasks.upsert({ executionId, taskId: "root" })).taskExecId;
    });

    it("definitions.create", () =>
      checkProperty([text, json, fc.oneof(fc.constant(undefined), number)], (name, definition, version) =>
        writeOrRefuse(
          store,
          () =>
            store.definitions.create({
              name: name as string,
              definition,
              version: version as number | undefined,
            }),
          async (created) => {
            const read = await store.definitions.get(created.id);
            expect(read.name).toBe(name);
            expect(read.definition).toEqual(asJson(definition));
          },
        ),
      ));

    it("executions.start", () =>
      checkProperty(
        [fc.oneof(fc.constant(undefined), uuid, badUuid), json, optionalText],
        (id, input, idempotencyKey) =>
          writeOrRefuse(
            store,
            () =>
              store.executions.start({
                id: id as string | undefined,
                definitionId,
                input,
                idempotencyKey: idempotencyKey as string | undefined,
              }),
            async ({ execution, created }) => {
              const read = await store.executions.get(execution.id);
              if (created) {
                if (typeof id === "string") expect(read.id).toBe(id.toLowerCase());
                expect(read.input).toEqual(input === undefined ? null : asJson(input));
              }
              expect(read.idempotencyKey).toBe(idempotencyKey ?? null);
            },
          ),
      ));

    it("executions.update, complete, fail", () =>
      checkProperty(
        [fc.constantFrom("update", "complete", "fail"), json, json, fc.oneof(fc.constant(undefined), number)],
        async (method, state, output, expectedVersion) => {
          const { execution } = await store.executions.start({ definitionId });
          const options = { expectedVersion: expectedVersion as number | undefined };
          await writeOrRefuse(
            store,
            () =>
              method === "update"
                ? store.executions.update(execution.id, { state, output }, options)
                : method === "complete"
                  ? store.executions.complete(execution.id, output, options)
                  : store.executions.fail(execution.id, output, options),
            async () => {
              const read = await store.executions.get(execution.id);
              if (method === "update") expect(read.state).toEqual(state === undefined ? null : asJson(state));
              const field = method === "fail" ? read.error : read.output;
              expect(field).toEqual(output === undefined ? null : asJson(output));
            },
          );
        },
      ));

    it("executions.upsertMany", () =>
      checkProperty(
        [
          fc.array(
            fc.record({
              id: fc.oneof(
                uuid,
                uuid.map((id) => id.toUpperCase()),
                badUuid,
              ),
              status: fc.constantFrom<unknown>("pending", "running", "completed", "bogus"),
              input: json,
              idempotencyKey: optionalText,
            }),
            { maxLength: 3 },
          ),
        ],
        (records) =>
          writeOrRefuse(
            store,
            () =>
              store.executions.upsertMany(
                records.map((r) => ({ ...r, definitionId }) as Parameters<Store["executions"]["upsert"]>[0]),
              ),
            async (rows) => {
              expect(rows).toHaveLength(records.length);
              for (const [i, r] of records.entries()) {
                const read = await store.executions.get(rows[i]?.id as string);
                expect(read.id).toBe(String(r.id).toLowerCase());
                expect(read.input).toEqual(r.input === undefined ? null : asJson(r.input));
                expect(read.idempotencyKey).toBe(r.idempotencyKey ?? null);
              }
            },
          ),
      ));

    it("tasks.upsert, upsertMany, createChildren", () =>
      checkProperty(
        [
          fc.constantFrom("upsert", "upsertMany", "createChildren"),
          fc.oneof(
            fc.constant(undefined),
            uuid,
            uuid.map((id) => id.toUpperCase()),
            badUuid,
          ),
          executionIds,
          text,
          optionalText,
          optionalText,
          json,
          fc.oneof(fc.constant(undefined), number),
        ],
        (method, id, execId, taskId, agentId, toolId, input, attempt) => {
          const task = {
            taskExecId: id as string | undefined,
            executionId: execId as string,
            taskId: taskId as string,
            agentId: agentId as string | undefined,
            toolId: toolId as string | undefined,
            input,
            attempt: attempt as number | undefined,
          };
          return writeOrRefuse(
            store,
            async () =>
              method === "upsert"
                ? [await store.tasks.upsert(task)]
                : method === "upsertMany"
                  ? store.tasks.upsertMany([task])
                  : store.tasks.createChildren(taskExecId, [task]),
            async (rows) => {
              expect(rows).toHaveLength(1);
              const read = await store.tasks.get(rows[0]?.taskExecId as string);
              if (typeof id === "string") expect(read.taskExecId).toBe(id.toLowerCase());
              expect(read.taskId).toBe(taskId);
              expect(read.agentId).toBe(agentId ?? null);
              expect(read.toolId).toBe(toolId ?? null);
              expect(read.input).toEqual(input === undefined ? null : asJson(input));
            },
          );
        },
      ));

    it("componentState.put and delete", () =>
      checkProperty(
        [executionIds, text, json, fc.oneof(fc.constant(undefined), number), fc.boolean()],
        (execId, componentId, state, expectedVersion, remove) =>
          writeOrRefuse(
            store,
            async (): Promise<unknown> =>
              remove
                ? store.componentState.delete(execId as string, componentId as string, {
                    expectedVersion: expectedVersion as number | undefined,
                  })
                : store.componentState.put(execId as string, componentId as string, state, {
                    expectedVersion: expectedVersion as number | undefined,
                  }),
            async () => {
              const read = await store.componentState.get(execId as string, componentId as string);
              if (remove) expect(read).toBeNull();
              else expect(read?.state).toEqual(asJson(state));
            },
          ),
      ));

    it("correlations.add and remove", () =>
      checkProperty(
        [
          text,
          executionIds,
          fc.oneof(fc.constant(undefined), number),
          fc.oneof(fc.constant(undefined), date),
          fc.boolean(),
        ],
        (key, execId, ttlMs, expiresAt, remove) =>
          writeOrRefuse(
            store,
            async () =>
              remove
                ? store.correlations.remove(key as string, execId as string)
                : store.correlations.add(key as string, execId as string, {
                    ttlMs: ttlMs as number | undefined,
                    expiresAt: expiresAt as Date | undefined,
                  }),
            async (result) => {
              const listed = await store.correlations.listForExecution(execId as string);
              if (typeof result === "number") return;
              expect(result.key).toBe(key);
              expect(Number.isNaN(result.expiresAt?.getTime())).toBe(false);
              if (expiresAt instanceof Date) expect(result.expiresAt?.getTime()).toBe(expiresAt.getTime());
              if (result.expiresAt === null || result.expiresAt > new Date()) {
                expect(listed.map((c) => c.key)).toContain(key);
              }
            },
          ),
      ));

    it("kv.set, delete and deletePrefix", () =>
      checkProperty(
        [
          fc.constantFrom("set", "delete", "deletePrefix"),
          text,
          text,
          fc.oneof(fc.string(), fc.uint8Array({ maxLength: 20 }), fc.constantFrom<unknown>(null, 1, {})),
          fc.oneof(fc.constant(undefined), number),
          fc.oneof(fc.constant(undefined), number),
        ],
        (method, prefix, key, value, ttlMs, expectedVersion) =>
          writeOrRefuse(
            store,
            async () =>
              method === "set"
                ? store.kv.set(prefix as string, key as string, value as string, {
                    ttlMs: ttlMs as number | undefined,
                    expectedVersion: expectedVersion as number | undefined,
                  })
                : method === "delete"
                  ? store.kv.delete(prefix as string, key as string)
                  : store.kv.deletePrefix(prefix as string),
            async () => {
              if (method !== "set") return;
              const read = await store.kv.get(prefix as string, key as string);
              if (read === undefined && typeof ttlMs === "number" && ttlMs < 60_000) return; // already expired
              expect(read?.key).toBe(key);
              expect(Buffer.from(read?.value ?? [])).toEqual(bytesOf(value));
              expect(Number.isNaN(read?.expiresAt?.getTime())).toBe(false);
            },
          ),
      ));

    it("timers.schedule and cancel", () =>
      checkProperty(
        [fc.oneof(fc.constant(null), executionIds), text, date, json, optionalText, fc.boolean()],
        (execId, name, fireAt, payload, queue, cancel) =>
          writeOrRefuse(
            store,
            async () =>
              cancel
                ? store.timers.cancel(execId as string | null, name as string)
                : store.timers.schedule({
                    executionId: execId as string | null,
                    name: name as string,
                    fireAt: fireAt as Date,
                    payload,
                    queue: queue as string | undefined,
                  }),
            async (result) => {
              if (typeof result === "boolean") return;
              const read = await store.timers.get(execId as string | null, name as string);
              expect(read.name).toBe(name);
              expect(read.fireAt.getTime()).toBe((fireAt as Date).getTime());
              expect(read.payload).toEqual(payload === undefined ? null : asJson(payload));
            },
          ),
      ));

    it("jobs.enqueue", () =>
      checkProperty(
        [
          text,
          text,
          json,
          fc.oneof(fc.constant(undefined), number),
          fc.oneof(fc.constant(undefined), date),
          optionalText,
          fc.oneof(
            fc.constant(undefined),
            uuid,
            uuid.map((id) => id.toUpperCase()),
            badUuid,
          ),
          delayMs,
          whileRunning,
          fc.boolean(),
        ],
        (queue, name, payload, priority, runAt, key, id, delay, mode, replace) =>
          writeOrRefuse(
            store,
            () =>
              store.jobs.enqueue({
                queue: queue as string,
                name: name as string,
                payload,
                priority: priority as number | undefined,
                runAt: runAt as Date | undefined,
                key: key as string | undefined,
                id: id as string | undefined,
                delayMs: delay as number | undefined,
                whileRunning: mode as "after" | undefined,
                replace,
              }),
            async (jobId) => {
              const read = await store.jobs.get(jobId);
              expect(runAt === undefined || delay === undefined).toBe(true);
              expect([undefined, "dedupe", "after"]).toContain(mode);
              expect(read.runAt.getUTCFullYear()).toBeLessThanOrEqual(9999);
              if (typeof id === "string") expect(read.id).toBe(id.toLowerCase());
              if (key === undefined) {
                expect(read.queue).toBe(queue);
                expect(read.name).toBe(name);
                expect(read.payload).toEqual(payload === undefined ? null : asJson(payload));
              }
            },
            { unchanged: ["jobs"] },
          ),
      ));

    it("durableState.write", () =>
      checkProperty(
        [text, number, fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.constantFrom<unknown>("s", null)), text],
        (persistenceId, version, payload, manifest) =>
          writeOrRefuse(
            store,
            () =>
              store.durableState.write({
                persistenceId: persistenceId as string,
                version: version as number,
                payload: payload as Uint8Array,
                manifest: manifest as string,
              }),
            async () => {
              const read = await store.durableState.latest(persistenceId as string);
              expect(read?.version).toBe(version);
              expect(Buffer.from(read?.payload ?? [])).toEqual(Buffer.from(payload as Uint8Array));
              expect(read?.manifest).toBe(manifest);
            },
          ),
      ));

    it("blobs.put and delete", () =>
      checkProperty(
        [text, fc.oneof(fc.uint8Array({ maxLength: 50 }), fc.string()), fc.boolean()],
        (key, data, remove) =>
          writeOrRefuse(
            store,
            async () =>
              remove ? store.blobs.delete(key as string) : store.blobs.put(key as string, Buffer.from(data)),
            async () => {
              if (remove) return expect(await store.blobs.exists(key as string)).toBe(false);
              expect(await store.blobs.get(key as string)).toEqual(Buffer.from(data));
            },
          ),
      ));
  });
});
