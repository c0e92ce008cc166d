/**
 * Property-based, as input-fuzz.test.ts: the write methods engines sit on. Starting a run by a
 * workflow name (registered or not), a task's partial update and its dates, and the kv writes of
 * many entries, insert-if-absent, owners and their deletion.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { isUuid, type Store, type TaskPatch } from "../../src/index.js";
import {
  asJson,
  badUuid,
  bytesOf,
  checkProperty,
  date,
  json,
  number,
  optionalText,
  text,
  uuid,
  writeOrRefuse,
} from "../support/fuzz-inputs.js";
import { forEachDriver } from "../support/harness.js";

const optionalNumber = fc.oneof(fc.constant(undefined), number);
const optionalDate = fc.oneof(fc.constant(undefined), date);
const value = fc.oneof(fc.string(), fc.uint8Array({ maxLength: 20 }), fc.constantFrom<unknown>(null, 1, {}));
/** An owner as the store keeps it: a UUID in lower case. */
const ownerAsKept = (o: unknown) => (o === undefined ? null : isUuid(o) ? o.toLowerCase() : o);
const owner = fc.oneof(
  fc.constant(undefined),
  text,
  uuid.map((id) => id.toUpperCase()),
);

forEachDriver((driver) => {
  describe("engine write methods, fuzzed", () => {
    let store: Store;
    let executionId: string;

    beforeAll(async () => {
      store = await driver.open();
      await store.definitions.create({ name: "registered", definition: {}, status: "active" });
      await store.definitions.create({ name: "drafted", definition: {}, status: "draft" });
      executionId = (await store.executions.start({ name: "fuzz" })).execution.id;
    });

    it("executions.start by name", () =>
      checkProperty(
        [
          fc.oneof({ weight: 2, arbitrary: fc.constantFrom("registered", "drafted") }, text),
          optionalNumber,
          json,
          optionalText,
        ],
        (name, version, input, idempotencyKey) =>
          writeOrRefuse(
            store,
            () =>
              store.executions.start({
                name: name as string,
                version: version as number | undefined,
                input,
                idempotencyKey: idempotencyKey as string | undefined,
              }),
            async ({ execution, created }) => {
              const read = await store.executions.get(execution.id);
              expect(read.idempotencyKey).toBe(idempotencyKey ?? null);
              if (!created) return;
              expect(read.name).toBe(name);
              expect(read.definitionId === null).toBe(name !== "registered");
              expect(read.input).toEqual(input === undefined ? null : asJson(input));
            },
          ),
      ));

    it("tasks.update", () =>
      checkProperty(
        [
          fc.oneof({ weight: 3, arbitrary: fc.constantFrom("own", "OWN") }, uuid, badUuid),
          fc.record(
            {
              status: fc.constantFrom<unknown>("running", "completed", "bogus", null),
              output: json,
              agentId: optionalText,
              attempt: number,
              startedAt: optionalDate,
              completedAt: optionalDate,
              retryAt: optionalDate,
              taskId: fc.constantFrom<unknown>(undefined, undefined, undefined, "renamed"),
            },
            { requiredKeys: [] },
          ),
          optionalNumber,
        ],
        async (which, patch, expectedVersion) => {
          const task = await store.tasks.upsert({ executionId, taskId: "t", retryAt: new Date() });
          const id =
            which === "own" ? task.taskExecId : which === "OWN" ? task.taskExecId.toUpperCase() : which;
          await writeOrRefuse(
            store,
            () =>
              store.tasks.update(id as string, patch as TaskPatch, {
                expectedVersion: expectedVersion as number | undefined,
              }),
            async (updated) => {
              const read = await store.tasks.get(updated.taskExecId);
              expect(read).toEqual(updated);
              expect(read.version).toBe(task.version + 1);
              expect(read.taskId).toBe("t");
              const given = (field: keyof typeof patch) =>
                Object.hasOwn(patch, field) && patch[field] !== undefined;
              expect(read.output).toEqual(given("output") ? asJson(patch.output) : null);
              expect(read.retryAt?.getTime()).toBe(
                given("retryAt") ? (patch.retryAt as Date | null)?.getTime() : task.retryAt?.getTime(),
              );
              if (given("startedAt"))
                expect(read.startedAt?.getTime()).toBe((patch.startedAt as Date | null)?.getTime());
            },
          );
        },
      ));

    it("tasks.upsert with dates", () =>
      checkProperty([optionalDate, optionalDate, optionalDate], (startedAt, completedAt, retryAt) =>
        writeOrRefuse(
          store,
          () =>
            store.tasks.upsert({
              executionId,
              taskId: "dated",
              startedAt: startedAt as Date | undefined,
              completedAt: completedAt as Date | undefined,
              retryAt: retryAt as Date | undefined,
            }),
          async (written) => {
            const read = await store.tasks.get(written.taskExecId);
            expect(read.startedAt?.getTime()).toBe((startedAt as Date | null | undefined)?.getTime());
            expect(read.completedAt?.getTime()).toBe((completedAt as Date | null | undefined)?.getTime());
            expect(read.retryAt?.getTime()).toBe((retryAt as Date | null | undefined)?.getTime());
          },
        ),
      ));

    it("tasks.create and tasks.update with append and expectedStatus", () =>
      checkProperty(
        [
          fc.constantFrom<unknown>("running", "pending", "bogus"),
          fc.constantFrom<unknown>(undefined, "running", ["pending", "running"], "bogus", []),
          fc.array(
            fc.record({
              type: text,
              payload: fc.oneof(json, fc.uint8Array({ maxLength: 8 })),
              correlationId: optionalText,
            }),
            {
              maxLength: 3,
            },
          ),
          fc.boolean(),
        ],
        async (status, expectedStatus, events, update) => {
          const history = async () => (await store.events.list(executionId, { limit: 1000 })).items.length;
          const task = update
            ? await store.tasks.upsert({ executionId, taskId: "u", status: "running" })
            : null;
          const before = await history();
          await writeOrRefuse(
            store,
            () =>
              task
                ? store.tasks.update(
                    task.taskExecId,
                    { status: status as "running" },
                    { expectedStatus: expectedStatus as "running", append: events as never },
                  )
                : store.tasks.create(
                    { executionId, taskId: "c", status: status as "running" },
                    { append: events as never },
                  ),
            async (written) => {
              expect(written.status).toBe(status);
              expect(written.appended?.map((e) => e.type)).toEqual(events.map((e) => e.type));
              expect(await history()).toBe(before + events.length);
            },
          );
        },
      ));

    it("kv.setMany", () =>
      checkProperty(
        [
          text,
          fc.array(
            fc.record({ key: text, value, ttlMs: optionalNumber, owner }, { requiredKeys: ["key", "value"] }),
            {
              maxLength: 4,
            },
          ),
        ],
        (prefix, entries) =>
          writeOrRefuse(
            store,
            () => store.kv.setMany(prefix as string, entries as never),
            async (versions) => {
              expect(versions).toHaveLength(entries.length);
              const keys = entries.map((e) => e.key as string);
              const read = await store.kv.getMany(prefix as string, keys);
              for (const [i, e] of entries.entries()) {
                if (read[i] === undefined && typeof e.ttlMs === "number" && e.ttlMs < 60_000) continue;
                expect(read[i]?.version).toBe(versions[i]?.version);
                expect(Buffer.from(read[i]?.value ?? [])).toEqual(bytesOf(e.value));
                expect(read[i]?.owner).toBe(ownerAsKept(e.owner));
              }
            },
          ),
      ));

    it("kv.setIfAbsent", () =>
      checkProperty(
        [text, text, value, optionalNumber, owner, fc.boolean()],
        async (prefix, key, v, ttlMs, o, exists) => {
          if (exists) await store.kv.set(prefix as string, key as string, "there").catch(() => undefined);
          await writeOrRefuse(
            store,
            () =>
              store.kv.setIfAbsent(prefix as string, key as string, v as string, {
                ttlMs: ttlMs as number | undefined,
                owner: o as string | undefined,
              }),
            async (result) => {
              const read = await store.kv.get(prefix as string, key as string);
              if (read === undefined && typeof ttlMs === "number" && ttlMs < 60_000) return;
              expect(read?.version).toBe(result.version);
              if (result.created) expect(Buffer.from(read?.value ?? [])).toEqual(bytesOf(v));
            },
          );
        },
      ));

    it("kv.deleteByOwner", () =>
      checkProperty([owner, fc.boolean()], async (o, written) => {
        if (written && typeof o === "string") {
          await store.kv.set("owned", "k", "v", { owner: o }).catch(() => undefined);
        }
        await writeOrRefuse(
          store,
          () => store.kv.deleteByOwner(o as string),
          async (deleted) => {
            expect(Number.isInteger(deleted) && deleted >= 0).toBe(true);
            const left = await store.query(`select 1 from ${store.schema}.kv where owner = $1`, [
              ownerAsKept(o),
            ]);
            expect(left.rows).toEqual([]);
          },
        );
      }));
  });
});
