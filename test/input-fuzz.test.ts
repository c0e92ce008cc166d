/**
 * Property-based: every public write method, given generated input (good and bad of every kind the
 * README's "bad input is a ValidationError with nothing written" must cover), either succeeds and
 * reads back what it was given, or throws a ValidationError, ConflictError or NotFoundError and leaves
 * every table's row count as it was. Never a raw driver error, a bare StoreError, a crash or a hang.
 * Seeded, so a failure (fast-check prints its seed and the shrunk input) replays.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { type Store, StoreError } from "../src/index.js";
import { forEachDriver } from "./harness.js";

const SEED = 20_240_613;
const RUNS = 40;

const EXPECTED_CODES = new Set(["VALIDATION", "CONFLICT", "NOT_FOUND"]);

/** A JSON value nested `depth` arrays deep. */
function nested(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function cyclic(): unknown {
  const a: Record<string, unknown> = { x: 1 };
  a.self = a;
  return a;
}

// ---- generated input ------------------------------------------------------------------------------

const goodText = fc.string({ minLength: 1, maxLength: 30 });
const badText = fc.oneof(
  fc.constant(""),
  fc.constant("a\u0000b"),
  fc.constant("a\ud800b"),
  fc.constant("\udc00"),
  fc.constant("😀\ud83d"),
  fc.constant("x".repeat(5000)),
  fc.constant(
    Array.from({ length: 1024 }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20_000))).join(""),
  ),
  fc.string({ unit: "binary", minLength: 1, maxLength: 20 }),
  fc.constantFrom<unknown>(null, 42, true, {}, [], Symbol("s"), 1n),
);
const text = fc.oneof({ weight: 3, arbitrary: goodText }, { weight: 2, arbitrary: badText });
const optionalText = fc.oneof(fc.constant(undefined), text);

const goodJson = fc.jsonValue({ maxDepth: 4 });
const badJson = fc.oneof(
  fc.constantFrom<unknown>(
    1n,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    -0,
    Number.MAX_VALUE,
    5e-324,
    { a: undefined, b: [undefined] },
    new Map([[1, 2]]),
    new Set([1]),
    () => 1,
    "nul\u0000",
    { "k\u0000": 1 },
    "lone\ud800",
    { "k\udfff": 1 },
    new Date(0),
    new Date(Number.NaN),
    { big: [1, 2n] },
  ),
  fc.constant(null).map(() => cyclic()),
  fc.constantFrom(999, 1000, 1001, 1500, 20_000).map((depth) => nested(depth)),
  fc.string({ unit: "binary", maxLength: 10 }),
  fc.dictionary(fc.string({ unit: "binary", maxLength: 4 }), fc.integer()),
);
const json = fc.oneof({ weight: 3, arbitrary: goodJson }, { weight: 2, arbitrary: badJson });

const uuid = fc.uuid({ version: [4, 7] });
const badUuid = fc.oneof(
  fc.constantFrom<unknown>(
    "",
    "not-a-uuid",
    "00000000-0000-0000-0000-00000000000g",
    "{00000000-0000-0000-0000-000000000000}",
    "00000000000000000000000000000000",
    42,
    null,
    {},
  ),
  uuid.map((id) => ` ${id}`),
);

const number = fc.oneof(
  fc.integer({ min: -5, max: 1000 }),
  fc.constantFrom(
    0,
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    2 ** 31,
    2 ** 53,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_VALUE,
    1e-9,
  ),
  fc.constantFrom<unknown>("1", null, 1n),
);

/** Four-digit years only: timers.schedule (not yet bounded) would store a year below 100 that PGlite misreads. */
const timerDate = fc.oneof(
  fc.date({ min: new Date("1000-01-01"), max: new Date("9999-12-31"), noInvalidDate: true }),
  fc.constantFrom<unknown>(new Date(Number.NaN), "2024-01-01", 0, null),
);

const date = fc.oneof(
  fc.date({ min: new Date("1970-01-01"), max: new Date("2200-01-01"), noInvalidDate: true }),
  fc.constantFrom<unknown>(
    new Date(Number.NaN),
    new Date(8.64e15),
    new Date(-8.64e15),
    new Date("0001-01-01T00:00:00Z"),
    new Date("9999-12-31T23:59:59.999Z"),
    "2024-01-01",
    0,
    null,
  ),
);

// ---- the checks -----------------------------------------------------------------------------------

async function rowCounts(store: Store): Promise<Record<string, number>> {
  const { rows: tables } = await store.query<{ name: string }>(
    "select tablename as name from pg_tables where schemaname = $1 order by 1",
    [store.schema],
  );
  const sql = tables
    .map((t) => `select '${t.name}' as name, count(*)::int as n from "${store.schema}"."${t.name}"`)
    .join(" union all ");
  const { rows } = await store.query<{ name: string; n: number }>(sql);
  return Object.fromEntries(rows.map((r) => [r.name, r.n]));
}

/** What a JSON value reads back as. */
const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

const bytesOf = (value: unknown) =>
  typeof value === "string" ? Buffer.from(value) : Buffer.from(value as Uint8Array);

/**
 * Runs `write`; when it succeeds, `readBack` checks what was stored; when it throws, the error must be
 * one of flowstore's input errors and no table may have gained or lost a row.
 */
async function writeOrRefuse<T>(
  store: Store,
  write: () => Promise<T>,
  readBack: (result: T) => Promise<void>,
): Promise<void> {
  const before = await rowCounts(store);
  let result: T;
  try {
    result = await write();
  } catch (error) {
    if (!(error instanceof StoreError) || !EXPECTED_CODES.has(error.code)) {
      throw new Error(`expected a ValidationError, ConflictError or NotFoundError, got ${String(error)}`, {
        cause: error,
      });
    }
    expect(await rowCounts(store)).toEqual(before);
    return;
  }
  await readBack(result);
}

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

    const check = <T extends unknown[]>(
      args: { [K in keyof T]: fc.Arbitrary<T[K]> },
      predicate: (...values: T) => Promise<void>,
    ) =>
      fc.assert(
        fc.asyncProperty(
          ...(args as unknown as [fc.Arbitrary<unknown>]),
          predicate as unknown as (v: unknown) => Promise<void>,
        ),
        { seed: SEED, numRuns: RUNS },
      );

    it("definitions.create", () =>
      check([text, json, fc.oneof(fc.constant(undefined), number)], (name, definition, version) =>
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
      check(
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
      check(
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
      check(
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
      check(
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
      check(
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
      check(
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
      check(
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
      check(
        [fc.oneof(fc.constant(null), executionIds), text, timerDate, json, optionalText, fc.boolean()],
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
      check(
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
        ],
        (queue, name, payload, priority, runAt, key, id) =>
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
              }),
            async (jobId) => {
              const read = await store.jobs.get(jobId);
              if (typeof id === "string") expect(read.id).toBe(id.toLowerCase());
              if (key === undefined) {
                expect(read.queue).toBe(queue);
                expect(read.name).toBe(name);
                expect(read.payload).toEqual(payload === undefined ? null : asJson(payload));
              }
            },
          ),
      ));

    it("durableState.write", () =>
      check(
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
      check(
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
