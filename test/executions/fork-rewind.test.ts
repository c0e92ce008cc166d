/**
 * executions.fork and executions.rewind: what a run keeps at step N (steps below N, and its events,
 * tasks, streams and tokens recorded up to the last of them), the source left as it was, a rewind's
 * version bump, transactions, the running-run policy and refused input.
 */
import { describe, expect, it } from "vitest";
import { ConflictError, NotFoundError, StoreError, uuidv7, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { holdings, recordCounts, recordedRun } from "../support/run-records.js";

/** What recordedRun holds before step 2: the steps 0 and 1 and what was recorded up to step 1. */
const BEFORE_STEP_2 = {
  steps: ['0:load:{"load":0}', '1:charge:{"charge":1}'],
  events: ["1:started", "2:e1", "3:signal"],
  tasks: ["a"],
  streams: { out: { chunks: ["s0", "s1"], closed: false } },
};

forEachDriver((driver) => {
  describe("fork", () => {
    it("keeps what came before the step in a new pending run and leaves the source as it was", async () => {
      const store = await driver.open();
      const source = await recordedRun(store);
      const before = await holdings(store, source);
      const sourceRun = await store.executions.get(source);

      const fork = await store.executions.fork(source, { fromStep: 2 });
      expect(fork.id).not.toBe(source);
      expect(fork).toMatchObject({
        name: "order",
        status: "pending",
        input: { order: 7 },
        metadata: { tenant: "t1" },
        output: null,
        state: null,
        idempotencyKey: null,
        version: 1,
        startedAt: null,
        completedAt: null,
        forkOf: source,
        forkStep: 2,
      });
      expect(await store.executions.get(fork.id)).toEqual(fork);
      // Tokens have one holder: the source keeps them; tok-1's delivery is the copied event 3.
      expect(await holdings(store, fork.id)).toEqual({ ...BEFORE_STEP_2, tokens: [] });
      // A copied step keeps how many attempts it took.
      expect((await store.steps.get(fork.id, 1))?.attempts).toBe(2);
      expect(await holdings(store, source)).toEqual(before);
      expect(await store.executions.get(source)).toEqual(sourceRun);

      // The fork goes on where the source's history and streams were cut, without gaps.
      expect((await store.events.append(fork.id, { type: "resumed" })).sequence).toBe(4);
      expect(await store.streams.write(fork.id, "out", "s2 again")).toBe(2);
      const step = await store.steps.record({ executionId: fork.id, number: 2, name: "ship", output: 1 });
      expect(step.created).toBe(true);
      // Copied tasks have ids of their own: a task id is held by one run.
      const [copied] = (await store.tasks.list({ executionId: fork.id })).items;
      const [original] = (await store.tasks.list({ executionId: source })).items;
      expect(copied?.taskExecId).not.toBe(original?.taskExecId);
    });

    it("from step 0 keeps only the workflow and input; past the last step keeps every step", async () => {
      const store = await driver.open();
      const source = await recordedRun(store);
      const fresh = await store.executions.fork(source, { fromStep: 0 });
      expect(await holdings(store, fresh.id)).toEqual({
        steps: [],
        events: [],
        tasks: [],
        streams: {},
        tokens: [],
      });
      const whole = await store.executions.fork(source, { fromStep: 4 });
      const all = await holdings(store, whole.id);
      expect(all.steps).toHaveLength(4);
      // Step 3's own transaction came after the close and every event: all of them are kept.
      expect(all.events).toEqual(["1:started", "2:e1", "3:signal", "4:e2", "5:signal", "6:e3"]);
      expect(all.streams).toEqual({
        out: { chunks: ["s0", "s1", "s2"], closed: true },
        late: { chunks: ["l0"], closed: false },
      });
    });

    it("forks a fork, cut the same way", async () => {
      const store = await driver.open();
      const source = await recordedRun(store);
      const first = await store.executions.fork(source, { fromStep: 2 });
      await store.events.append(first.id, { type: "retried" });
      await store.steps.record({ executionId: first.id, number: 2, name: "ship", output: "again" });
      await store.events.append(first.id, { type: "after ship" });
      await store.executions.complete(first.id);

      const second = await store.executions.fork(first.id, { fromStep: 3 });
      expect(second).toMatchObject({ forkOf: first.id, forkStep: 3 });
      const held = await holdings(store, second.id);
      expect(held.steps).toEqual([...BEFORE_STEP_2.steps, '2:ship:"again"']);
      expect(held.events).toEqual([...BEFORE_STEP_2.events, "4:retried"]);
      const earlier = await store.executions.fork(first.id, { fromStep: 1 });
      expect((await holdings(store, earlier.id)).steps).toEqual(['0:load:{"load":0}']);
    });
    it("lists a run's forks by forkOf, newest first on asking, and refuses a forkOf that is no id", async () => {
      const store = await driver.open();
      const source = await recordedRun(store);
      const other = await recordedRun(store);
      const first = await store.executions.fork(source, { fromStep: 1 });
      const second = await store.executions.fork(source, { fromStep: 2 });
      await store.executions.fork(other, { fromStep: 1 });
      const forks = await store.executions.list({ forkOf: source, order: "desc" });
      expect(forks.items.map((e) => e.id)).toEqual([second.id, first.id]);
      expect((await store.executions.list({ forkOf: second.id })).items).toEqual([]);
      await expect(store.executions.list({ forkOf: "not-an-id" })).rejects.toBeInstanceOf(ValidationError);
    });
  });

  describe("rewind", () => {
    it("deletes the steps from N on and what came after step N-1, keeps the rest, bumps the version", async () => {
      const store = await driver.open();
      const id = await recordedRun(store);
      const run = await store.executions.get(id);
      const rewound = await store.executions.rewind(id, { toStep: 2 });
      expect(rewound).toMatchObject({
        id,
        status: "pending",
        output: null,
        completedAt: null,
        version: run.version + 1,
        forkOf: null,
      });
      expect(rewound.startedAt).toEqual(run.startedAt);
      // tok-2, claimed after step 1, is released; tok-1 stays the run's.
      expect(await holdings(store, id)).toEqual({ ...BEFORE_STEP_2, tokens: ["tok-1"] });
      expect((await store.signals.get(`tok-1-${id}`))?.executionId).toBe(id);
      expect(await store.signals.get(`tok-2-${id}`)).toBeNull();

      // The history and the stream go on from the cut; a writer holding the old version conflicts.
      expect((await store.events.append(id, { type: "resumed" })).sequence).toBe(4);
      expect(await store.streams.write(id, "out", "s2 again")).toBe(2);
      await expect(
        store.executions.update(id, { status: "running" }, { expectedVersion: run.version }),
      ).rejects.toBeInstanceOf(ConflictError);
      await store.executions.update(id, { status: "running" }, { expectedVersion: rewound.version });
    });

    it("keeps the last rewind's step, the version it gave and its time; a rolled-back one leaves none", async () => {
      const store = await driver.open();
      const id = await recordedRun(store);
      const never = { rewoundToStep: null, rewoundVersion: null, rewoundAt: null };
      expect(await store.executions.get(id)).toMatchObject(never);
      const undo = new Error("undo");
      await expect(
        store.transaction(async (tx) => {
          await tx.executions.rewind(id, { toStep: 1 });
          throw undo;
        }),
      ).rejects.toBe(undo);
      expect(await store.executions.get(id)).toMatchObject(never);

      const first = await store.executions.rewind(id, { toStep: 3 });
      expect(first).toMatchObject({ rewoundToStep: 3, rewoundVersion: first.version });
      expect(first.rewoundAt).toEqual(first.updatedAt);
      await store.executions.complete(id, { again: true });
      const second = await store.executions.rewind(id, { toStep: 1 });
      // Later writes move the run's version on; the rewind's stays as it gave it.
      const later = await store.executions.update(id, { status: "running" });
      expect(later).toMatchObject({ rewoundToStep: 1, rewoundVersion: second.version });
      expect(later.version).toBe(second.version + 1);
      expect(later.rewoundAt?.getTime()).toBeGreaterThanOrEqual(first.rewoundAt?.getTime() ?? Infinity);
      // A fork of a rewound run was not rewound itself.
      expect(await store.executions.fork(id, { fromStep: 1, force: true })).toMatchObject(never);
    });

    it("to step 0 deletes all the run recorded; to the last step + 1 only what followed it", async () => {
      const store = await driver.open();
      const id = await recordedRun(store);
      await store.executions.rewind(id, { toStep: 4 });
      expect((await holdings(store, id)).steps).toHaveLength(4);
      await store.executions.complete(id);
      await store.executions.rewind(id, { toStep: 0 });
      expect(await holdings(store, id)).toEqual({
        steps: [],
        events: [],
        tasks: [],
        streams: {},
        tokens: [],
      });
      expect((await store.events.append(id, { type: "again" })).sequence).toBe(1);
    });
  });

  describe("fork and rewind", () => {
    it("cut inside one transaction by the order rows were recorded in, where the clock ties", async () => {
      const store = await driver.open();
      const { execution } = await store.executions.start({ name: "one", status: "running" });
      const id = execution.id;
      // One transaction: every row it writes has the same now(), before and after the step's.
      await store.transaction(async (tx) => {
        await tx.tasks.create({ executionId: id, taskId: "before" });
        await tx.streams.write(id, "t", "x0");
        await tx.events.append(id, { type: "before" });
        await tx.steps.record({ executionId: id, number: 0, name: "only" });
        await tx.tasks.create({ executionId: id, taskId: "after" });
        await tx.streams.write(id, "t", "x1");
        await tx.streams.write(id, "u", "y0");
        await tx.signals.claim(`after-${id}`, id);
        await tx.events.append(id, { type: "after" });
      });
      await store.executions.complete(id);
      const kept = {
        steps: ["0:only:undefined"],
        events: ["1:before"],
        tasks: ["before"],
        streams: { t: { chunks: ["x0"], closed: false } },
      };
      const fork = await store.executions.fork(id, { fromStep: 1 });
      expect(await holdings(store, fork.id)).toEqual({ ...kept, tokens: [] });
      await store.executions.rewind(id, { toStep: 1 });
      expect(await holdings(store, id)).toEqual({ ...kept, tokens: [] });
    });

    it("run in the caller's transaction: a rollback leaves nothing, a commit keeps both", async () => {
      const store = await driver.open();
      const id = await recordedRun(store);
      const counts = await recordCounts(store);
      const before = await holdings(store, id);
      const undo = new Error("undo");
      await expect(
        store.transaction(async (tx) => {
          const fork = await tx.executions.fork(id, { fromStep: 2 });
          await tx.executions.rewind(id, { toStep: 1 });
          expect((await tx.steps.list(fork.id)).length).toBe(2);
          expect((await tx.steps.list(id)).length).toBe(1);
          throw undo;
        }),
      ).rejects.toBe(undo);
      expect(await recordCounts(store)).toEqual(counts);
      expect(await holdings(store, id)).toEqual(before);

      const forkId = await store.transaction(async (tx) => {
        const fork = await tx.executions.fork(id, { fromStep: 2 });
        await tx.executions.rewind(id, { toStep: 1 });
        return fork.id;
      });
      expect((await holdings(store, forkId)).steps).toEqual(BEFORE_STEP_2.steps);
      expect((await holdings(store, id)).steps).toEqual(['0:load:{"load":0}']);
    });

    // Rows from before migration 0033 have no number and are cut by their times: on the server's
    // microsecond clock, as PGlite's whole milliseconds would tie writes apart by less.
    if (driver.name === "postgres") {
      it("cut rows recorded before migration 0033 (no number) by their times", async () => {
        const store = await driver.open();
        const id = await recordedRun(store);
        for (const table of ["steps", "events", "tasks", "streams", "stream_chunks", "signals"]) {
          await store.query(`update "${store.schema}".${table} set recorded = null where execution_id = $1`, [
            id,
          ]);
        }
        await store.query(
          `update "${store.schema}".streams set closed_recorded = null where execution_id = $1`,
          [id],
        );
        const fork = await store.executions.fork(id, { fromStep: 2 });
        expect(await holdings(store, fork.id)).toEqual({ ...BEFORE_STEP_2, tokens: [] });
        await store.executions.rewind(id, { toStep: 2 });
        expect(await holdings(store, id)).toEqual({ ...BEFORE_STEP_2, tokens: ["tok-1"] });
      });
    }

    it("refuse a run that has not finished unless forced, writing nothing", async () => {
      const store = await driver.open();
      const id = await recordedRun(store, "running");
      const counts = await recordCounts(store);
      for (const call of [
        () => store.executions.fork(id, { fromStep: 2 }),
        () => store.executions.rewind(id, { toStep: 2 }),
      ]) {
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConflictError);
        expect(String(error)).toMatch(/is running.*force: true/);
      }
      expect(await recordCounts(store)).toEqual(counts);
      const fork = await store.executions.fork(id, { fromStep: 2, force: true });
      expect((await holdings(store, fork.id)).steps).toEqual(BEFORE_STEP_2.steps);
      const rewound = await store.executions.rewind(id, { toStep: 2, force: true });
      expect(rewound.status).toBe("pending");
    });

    it("refuse bad input with the error's class, writing nothing", async () => {
      const store = await driver.open();
      const id = await recordedRun(store);
      const run = await store.executions.get(id);
      const counts = await recordCounts(store);
      const cases: [unknown, () => Promise<unknown>, RegExp][] = [
        [NotFoundError, () => store.executions.fork(uuidv7(), { fromStep: 0 }), /not found/],
        [NotFoundError, () => store.executions.rewind(uuidv7(), { toStep: 0 }), /not found/],
        [ValidationError, () => store.executions.fork("nope", { fromStep: 0 }), /id must be a UUID/],
        [ValidationError, () => store.executions.fork(id, { fromStep: -1 }), /fromStep must be an integer/],
        [ValidationError, () => store.executions.rewind(id, { toStep: 1.5 }), /toStep must be an integer/],
        [ValidationError, () => store.executions.rewind(id, { toStep: "2" as never }), /toStep/],
        [ValidationError, () => store.executions.fork(id, {} as never), /fromStep must be an integer/],
        [ValidationError, () => store.executions.fork(id, undefined as never), /options must be an object/],
        [ValidationError, () => store.executions.fork(id, { fromStep: 5 }), /fromStep 5 is past .* up to 4/],
        [ValidationError, () => store.executions.rewind(id, { toStep: 9 }), /toStep 9 is past/],
        [
          ValidationError,
          () => store.executions.fork(id, { fromStepp: 1 } as never),
          /unknown option fromStepp \(did you mean fromStep\?\)/,
        ],
        [
          ValidationError,
          () => store.executions.rewind(id, { toStep: 1, forse: true } as never),
          /unknown option forse \(did you mean force\?\)/,
        ],
        [ValidationError, () => store.executions.rewind(id, { toStep: 1, force: "yes" as never }), /force/],
        [
          ConflictError,
          () => store.executions.rewind(id, { toStep: 1, expectedVersion: run.version + 1 }),
          /version/,
        ],
        [
          ValidationError,
          () =>
            store.transaction((tx) => tx.executions.rewind(id, { toStep: 1 }), {
              isolation: "repeatable read",
            }),
          /read committed/,
        ],
      ];
      for (const [kind, call, message] of cases) {
        const error = await call().catch((e: unknown) => e);
        expect(error, String(message)).toBeInstanceOf(kind as typeof StoreError);
        expect(String(error)).toMatch(message);
      }
      expect(await recordCounts(store)).toEqual(counts);
    });

    it("are refused on a distributed store, writing nothing", async () => {
      const store = await driver.open();
      const id = await recordedRun(store);
      const counts = await recordCounts(store);
      const capabilities = store.driver.capabilities;
      Object.defineProperty(store.driver, "capabilities", { value: { ...capabilities, distributed: true } });
      try {
        for (const call of [
          () => store.executions.fork(id, { fromStep: 1 }),
          () => store.executions.rewind(id, { toStep: 1 }),
        ]) {
          const error = await call().catch((e: unknown) => e);
          expect(error).toBeInstanceOf(StoreError);
          expect(String(error)).toMatch(/not available on a distributed \(Citus\) store/);
        }
      } finally {
        Object.defineProperty(store.driver, "capabilities", { value: capabilities });
      }
      expect(await recordCounts(store)).toEqual(counts);
    });
  });
});
