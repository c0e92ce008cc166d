/**
 * Property-based, as input-fuzz.test.ts: the write methods engines sit on. Starting a run by a
 * workflow name (registered or not), a task's partial update and its dates.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Store, TaskPatch } from "../src/index.js";
import {
  asJson,
  badUuid,
  checkProperty,
  date,
  json,
  number,
  optionalText,
  text,
  uuid,
  writeOrRefuse,
} from "./fuzz-inputs.js";
import { forEachDriver } from "./harness.js";

const optionalNumber = fc.oneof(fc.constant(undefined), number);
const optionalDate = fc.oneof(fc.constant(undefined), date);

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
  });
});
