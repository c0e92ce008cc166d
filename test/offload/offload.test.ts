/**
 * Big values out of the row: with `limits.offloadAbove`, event payloads, step outputs and execution
 * state over the limit are kept in the blob store, their rows hold a reference, reads give the value
 * back as it was written, and retention removes the blobs with their run. A replaced state leaves one
 * blob, and `mergeState` writes only the keys it is given.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConflictError, openStore, type Store, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

const LIMIT = 4096;
/** A JSON value of about `bytes` bytes. */
const big = (bytes: number, tag = "x") => ({ tag, text: tag.repeat(bytes) });

forEachDriver((driver) => {
  describe("offloaded values", () => {
    let store: Store;
    beforeAll(async () => {
      store = await driver.open({ limits: { offloadAbove: LIMIT } });
    });
    afterAll(async () => {
      await store.close();
    });

    const s = () => `"${store.schema}"`;
    const running = async () =>
      (await store.executions.start({ name: "offload", status: "running" })).execution.id;
    /** The blobs of a run, by kind ("events", "steps" or "state"). */
    const blobsOf = async (id: string, kind: string) =>
      (await store.blobs.list(`flowstore:offloaded/${id}/${kind}/`)).items.map((blob) => blob.key);
    /** What a row holds in place of its value. */
    const stored = async (sql: string, id: string) =>
      (await store.query<{ v: unknown }>(sql.replaceAll("$s", s()), [id])).rows[0]?.v;

    it("keeps a large event payload in a blob, a small one in its row, and reads both back", async () => {
      const id = await running();
      const bytes = new Uint8Array(LIMIT + 1).fill(7);
      const appended = await store.events.append(id, [
        { type: "small", payload: { n: 1 } },
        { type: "large", payload: big(LIMIT) },
        { type: "bytes", payload: bytes },
      ]);
      expect(appended.map((event) => event.payload)).toEqual([{ n: 1 }, big(LIMIT), bytes]);
      expect(await blobsOf(id, "events")).toHaveLength(2);
      const rows = await store.query<{ payload: Record<string, unknown> | null; payload_bytes: unknown }>(
        `select payload, payload_bytes from ${s()}.events where execution_id = $1 order by seq`,
        [id],
      );
      expect(rows.rows[0]?.payload).toEqual({ n: 1 });
      expect(Object.keys(rows.rows[1]?.payload ?? {})).toEqual(["$flowstore:offloaded"]);
      expect(rows.rows[2]?.payload_bytes).toBeNull();
      const listed = (await store.events.list(id)).items.map((event) => event.payload);
      expect(listed[0]).toEqual({ n: 1 });
      expect(listed[1]).toEqual(big(LIMIT));
      expect(Buffer.from(listed[2] as Uint8Array)).toEqual(Buffer.from(bytes));
      expect((await store.events.get(id, 2)).payload).toEqual(big(LIMIT));
    });

    it("offloads the payloads a task's or a run's write appends, in a batch or alone", async () => {
      const id = await running();
      const created = await store.tasks.create(
        { executionId: id, taskId: "step" },
        { append: { type: "task_created", payload: big(LIMIT, "c") } },
      );
      expect(created.appended?.[0]?.payload).toEqual(big(LIMIT, "c"));
      // A task updated by its own id: its run is looked up to file the blob under it.
      const updated = await store.tasks.update(
        created.taskExecId,
        { status: "completed" },
        { append: { type: "task_completed", payload: big(LIMIT, "u") }, historyAfter: 0 },
      );
      expect(updated.history?.map((event) => event.payload)).toEqual([big(LIMIT, "c"), big(LIMIT, "u")]);
      await store.transaction(async (tx) => {
        await tx.executions.update(
          id,
          { status: "waiting" },
          { append: { type: "wait", payload: big(LIMIT, "w") } },
        );
      });
      expect(await blobsOf(id, "events")).toHaveLength(3);
      expect((await store.events.list(id)).items.map((event) => event.payload)).toEqual([
        big(LIMIT, "c"),
        big(LIMIT, "u"),
        big(LIMIT, "w"),
      ]);
      // A write that matches no row leaves no blob.
      await expect(
        store.executions.update(
          id,
          { status: "running" },
          { expectedVersion: 1, append: { type: "x", payload: big(LIMIT) } },
        ),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await blobsOf(id, "events")).toHaveLength(3);
    });

    it("puts nothing in the blob store when an append is refused", async () => {
      const id = await running();
      await expect(
        store.events.append(id, { type: "late", payload: big(LIMIT) }, { expectedLastSequence: 3 }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await blobsOf(id, "events")).toEqual([]);
      expect(await store.events.lastSequence(id)).toBe(0);
    });

    it("refuses a value holding the reserved key, and writes nothing", async () => {
      const id = await running();
      const forged = { "$flowstore:offloaded": { key: "elsewhere", bytes: 1, kind: "json" } };
      await expect(store.events.append(id, { type: "forged", payload: forged })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(
        store.steps.record({ executionId: id, number: 0, name: "s", output: forged }),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(store.executions.update(id, { state: forged })).rejects.toBeInstanceOf(ValidationError);
      expect(await store.events.lastSequence(id)).toBe(0);
      expect(await store.steps.list(id)).toEqual([]);
      expect((await store.executions.get(id)).version).toBe(1);
    });

    it("keeps a large step output in a blob; a second writer of the step leaves no blob behind", async () => {
      const id = await running();
      const first = await store.steps.record({
        executionId: id,
        number: 0,
        name: "fetch",
        output: big(LIMIT, "a"),
      });
      expect(first).toMatchObject({ created: true, step: { output: big(LIMIT, "a") } });
      const second = await store.steps.record({
        executionId: id,
        number: 0,
        name: "fetch",
        output: big(LIMIT, "b"),
      });
      expect(second).toMatchObject({ created: false, step: { output: big(LIMIT, "a") } });
      expect(await blobsOf(id, "steps")).toHaveLength(1);
      const bytes = new Uint8Array(LIMIT * 2).fill(3);
      await store.steps.record({ executionId: id, number: 1, name: "image", output: bytes });
      const output = await stored(
        "select output as v from $s.steps where execution_id = $1 and step_number = 1",
        id,
      );
      expect(Object.keys(output as object)).toEqual(["$flowstore:offloaded"]);
      const steps = await store.steps.list(id);
      expect(steps.map((step) => step.name)).toEqual(["fetch", "image"]);
      expect(steps[0]?.output).toEqual(big(LIMIT, "a"));
      expect(Buffer.from(steps[1]?.output as Uint8Array)).toEqual(Buffer.from(bytes));
      expect((await store.steps.get(id, 0))?.output).toEqual(big(LIMIT, "a"));
      expect(await store.steps.delete(id)).toBe(2);
      expect(await blobsOf(id, "steps")).toEqual([]);
    });

    it("replaces a large state with one blob left, and a stale write changes neither row nor blob", async () => {
      const id = await running();
      const one = await store.executions.update(id, { state: big(LIMIT, "1") });
      expect(one.state).toEqual(big(LIMIT, "1"));
      const [firstBlob] = await blobsOf(id, "state");
      const two = await store.executions.update(id, { state: big(LIMIT, "2") }, { expectedVersion: 2 });
      expect(two.state).toEqual(big(LIMIT, "2"));
      const blobs = await blobsOf(id, "state");
      expect(blobs).toHaveLength(1);
      expect(blobs[0]).not.toBe(firstBlob);
      await expect(
        store.executions.update(id, { state: big(LIMIT, "3") }, { expectedVersion: 2 }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await blobsOf(id, "state")).toEqual(blobs);
      const read = await store.executions.get(id);
      expect(read).toMatchObject({ version: 3, state: big(LIMIT, "2") });
      const listed = await store.executions.list({ metadata: {}, limit: 1000 });
      expect(listed.items.find((execution) => execution.id === id)?.state).toEqual(big(LIMIT, "2"));
      const upserted = await store.executions.upsert({ ...read, state: big(LIMIT, "4") });
      expect(upserted.state).toEqual(big(LIMIT, "4"));
      expect(await blobsOf(id, "state")).toHaveLength(1);
      // A small state goes back in the row.
      await store.executions.update(id, { state: { small: true } });
      expect(await stored("select state as v from $s.executions where id = $1", id)).toEqual({ small: true });
    });

    it("merges keys into a state in its row, and beside an offloaded state's reference", async () => {
      const id = await running();
      const merged = await store.executions.mergeState(id, { a: 1, b: 2 });
      expect(merged).toMatchObject({ version: 2, state: { a: 1, b: 2 } });
      expect((await store.executions.mergeState(id, { b: null, c: 3 })).state).toEqual({ a: 1, c: 3 });
      await expect(store.executions.mergeState(id, { d: 4 }, { expectedVersion: 2 })).rejects.toBeInstanceOf(
        ConflictError,
      );
      // An offloaded state: the blob stays, the keys go beside its reference.
      await store.executions.update(id, { state: big(LIMIT) });
      const [blob] = await blobsOf(id, "state");
      const after = await store.executions.mergeState(id, { tag: null, step: 7 });
      expect(after.state).toEqual({ text: big(LIMIT).text, step: 7 });
      expect(await blobsOf(id, "state")).toEqual([blob]);
      const row = (await stored("select state as v from $s.executions where id = $1", id)) as Record<
        string,
        { patch?: unknown }
      >;
      expect(row["$flowstore:offloaded"]?.patch).toEqual({ tag: null, step: 7 });
      expect((await store.executions.get(id)).state).toEqual({ text: big(LIMIT).text, step: 7 });
      // Keys that outgrow the limit themselves are written into a new blob, and the reference is bare.
      const grown = await store.executions.mergeState(id, { more: "m".repeat(LIMIT) });
      expect(grown.state).toEqual({ text: big(LIMIT).text, step: 7, more: "m".repeat(LIMIT) });
      const blobs = await blobsOf(id, "state");
      expect(blobs).toHaveLength(1);
      expect(blobs[0]).not.toBe(blob);
      const compacted = (await stored("select state as v from $s.executions where id = $1", id)) as Record<
        string,
        { patch?: unknown }
      >;
      expect(compacted["$flowstore:offloaded"]?.patch).toBeUndefined();
      expect((await store.executions.get(id)).state).toEqual(grown.state);
    });

    it("refuses a merge into a state that is not an object, and a patch that is not one", async () => {
      const id = await running();
      await store.executions.update(id, { state: [1, 2] });
      await expect(store.executions.mergeState(id, { a: 1 })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.executions.mergeState(id, [1] as never)).rejects.toBeInstanceOf(ValidationError);
      expect((await store.executions.get(id)).state).toEqual([1, 2]);
    });

    it("keeps a large actor snapshot in a blob, one per actor, and answers repeats and conflicts as before", async () => {
      const actor = `actor-${Math.random()}`;
      const snapshots = async () =>
        (await store.blobs.list("flowstore:offloaded/durable-state/")).items.length;
      const before = await snapshots();
      const large = (n: number) => new Uint8Array(LIMIT * 2).fill(n);
      const write = (version: number, payload: Uint8Array) =>
        store.durableState.write({ persistenceId: actor, version, payload, manifest: "m" });
      expect(await write(1, large(1))).toEqual({ written: true });
      const row = await store.query<{ size: number; blob: string | null }>(
        `select octet_length(payload) as size, payload_blob as blob from ${s()}.durable_state where persistence_id = $1`,
        [actor],
      );
      expect(row.rows[0]?.size).toBe(0);
      expect(row.rows[0]?.blob).toMatch(/^flowstore:offloaded\/durable-state\//);
      expect(Buffer.from((await store.durableState.latest(actor))?.payload ?? [])).toEqual(
        Buffer.from(large(1)),
      );
      // The same version and payload again is a repeat; another payload at that version a conflict.
      expect(await write(1, large(1))).toEqual({ written: false });
      await expect(write(1, large(2))).rejects.toBeInstanceOf(ConflictError);
      expect(await snapshots()).toBe(before + 1);
      expect(await write(2, large(2))).toEqual({ written: true });
      expect(await snapshots()).toBe(before + 1);
      const listed = (await store.durableState.list({ limit: 1000 })).items.find(
        (r) => r.persistenceId === actor,
      );
      expect(Buffer.from(listed?.payload ?? [])).toEqual(Buffer.from(large(2)));
      // A small snapshot goes in the row, and the large one's blob goes.
      expect(await write(3, new Uint8Array([1, 2, 3]))).toEqual({ written: true });
      expect(await snapshots()).toBe(before);
      expect(Buffer.from((await store.durableState.latest(actor))?.payload ?? [])).toEqual(
        Buffer.from([1, 2, 3]),
      );
      await write(4, large(4));
      expect(await store.durableState.delete(actor)).toBe(true);
      expect(await snapshots()).toBe(before);
    });

    it("removes a run's offloaded values with the run when it is pruned", async () => {
      const id = await running();
      await store.events.append(id, { type: "large", payload: big(LIMIT) });
      await store.steps.record({ executionId: id, number: 0, name: "s", output: big(LIMIT) });
      await store.executions.update(id, { state: big(LIMIT) });
      await store.executions.complete(id, null);
      expect((await store.blobs.list(`flowstore:offloaded/${id}/`)).items).toHaveLength(3);
      await store.prune({ finishedBefore: new Date(Date.now() + 60_000), partitions: false });
      await expect(store.executions.get(id)).rejects.toThrow(/not found/);
      expect((await store.blobs.list(`flowstore:offloaded/${id}/`)).items).toEqual([]);
    });
  });

  it("refuses an offloadAbove under a kilobyte before it connects", async () => {
    await expect(openStore({ limits: { offloadAbove: 100 } })).rejects.toBeInstanceOf(ValidationError);
    await expect(openStore({ limits: { offloadAbove: 1.5e3 + 0.5 } })).rejects.toThrow(/offloadAbove/);
  });
});
