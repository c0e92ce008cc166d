/**
 * Batches: entries gather while statements are in flight and go together in the next, within the
 * rows, bytes and keys a batch may take, with no more statements in flight than allowed.
 */
import { describe, expect, it } from "vitest";
import {
  answer,
  Batches,
  type BatchesOptions,
  type Call,
  callIn,
  StatementSlots,
} from "../../src/core/batches.js";

/** Batches of strings, each statement held open until `release` is called, recording what each sent. */
function recorded(options: Omit<BatchesOptions<string>, "send"> = {}) {
  const sent: string[][] = [];
  const open: (() => void)[] = [];
  const batches = new Batches<string>({
    ...options,
    send: (batch) => {
      sent.push(batch);
      return new Promise<void>((resolve) => open.push(resolve));
    },
  });
  const release = async () => {
    for (const resolve of open.splice(0)) resolve();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { batches, sent, open, release };
}

/** Batches gathering by turn whose entries' first letter is the key their statement holds. */
const heldByFirstLetter = () =>
  recorded({ gatherTurn: true, maxInFlight: 4, heldKeyOf: (entry) => entry.slice(0, 1) });

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("Batches", () => {
  it("sends the first entry at once, and those that came meanwhile together in the next", async () => {
    const { batches, sent, release } = recorded();
    for (const entry of ["a", "b", "c", "d"]) batches.add(entry);
    expect(sent).toEqual([["a"]]);
    await release();
    expect(sent).toEqual([["a"], ["b", "c", "d"]]);
    await release();
    await batches.flushed();
  });

  it("keeps arrival order without keys: the first entry that does not fit ends the batch", async () => {
    const sizes: Record<string, number> = { a: 1, b: 4, c: 4, d: 9, e: 1 };
    const { batches, sent, release } = recorded({ maxBytes: 8, bytesOf: (entry) => sizes[entry] ?? 0 });
    for (const entry of Object.keys(sizes)) batches.add(entry);
    for (let i = 0; i < 4; i++) await release();
    // The first of a batch goes however large.
    expect(sent).toEqual([["a"], ["b", "c"], ["d"], ["e"]]);
  });

  it("with keys, lets an entry that fits pass one that waits, and never puts one key twice in a batch", async () => {
    const sizes: Record<string, number> = { x1: 1, y1: 4, z1: 3, y2: 4, x2: 1 };
    const { batches, sent, release } = recorded({
      maxBytes: 8,
      bytesOf: (entry) => sizes[entry] ?? 0,
      keyOf: (entry) => entry.slice(0, 1),
    });
    for (const entry of Object.keys(sizes)) batches.add(entry);
    for (let i = 0; i < 3; i++) await release();
    expect(sent).toEqual([["x1"], ["y1", "z1", "x2"], ["y2"]]);
  });

  it("takes rows up to maxRows, the last entry of a batch taking it past", async () => {
    const { batches, sent, release } = recorded({ maxRows: 3, rowsOf: (entry) => entry.length });
    for (const entry of ["a", "bb", "cc", "d", "e"]) batches.add(entry);
    for (let i = 0; i < 3; i++) await release();
    expect(sent).toEqual([["a"], ["bb", "cc"], ["d", "e"]]);
  });

  it("starts a second statement beside the first only with overlapMin entries waiting", async () => {
    let min = 3;
    const { batches, sent, release } = recorded({ maxInFlight: 2, overlapMin: () => min });
    for (const entry of ["a", "b", "c"]) batches.add(entry);
    expect(sent).toEqual([["a"]]);
    batches.add("d");
    expect(sent).toEqual([["a"], ["b", "c", "d"]]);
    // Two in flight: no third, however many wait.
    for (const entry of ["e", "f", "g", "h"]) batches.add(entry);
    expect(sent).toHaveLength(2);
    min = 100;
    await release();
    expect(sent).toEqual([["a"], ["b", "c", "d"], ["e", "f", "g", "h"]]);
    await release();
  });

  it("gathers the entries of one turn, and shares slots with other Batches", async () => {
    const slots = new StatementSlots(1);
    const one = recorded({ gatherTurn: true, slots, maxInFlight: 4 });
    const two = recorded({ gatherTurn: true, slots, maxInFlight: 4 });
    one.batches.add("a");
    one.batches.add("b");
    two.batches.add("c");
    expect(one.sent).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect([one.sent, two.sent]).toEqual([[["a", "b"]], []]);
    // Waiting for the slot, the batch of `two` takes what comes meanwhile.
    two.batches.add("d");
    await one.release();
    expect(two.sent).toEqual([["c", "d"]]);
    await two.release();
  });

  it("with soonWhenIdle, sends a lone entry once its caller yields, not at the turn's end", async () => {
    const { batches, sent, release } = recorded({ gatherTurn: true, soonWhenIdle: true, maxInFlight: 4 });
    // Entries added before the caller yields go together.
    batches.add("a");
    batches.add("b");
    expect(sent).toEqual([]);
    await Promise.resolve();
    expect(sent).toEqual([["a", "b"]]);
    // With a statement in flight, entries gather by turn as before, however long the turn's promise
    // chain runs.
    batches.add("c");
    for (let i = 0; i < 20; i++) await Promise.resolve();
    batches.add("d");
    expect(sent).toEqual([["a", "b"]]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([
      ["a", "b"],
      ["c", "d"],
    ]);
    await release();
    await batches.flushed();
  });

  it("alone runs a lone entry's statement at once, holding its key, and runs nothing beside another", async () => {
    const { batches, sent, release } = heldByFirstLetter();
    let finish: () => void = () => {};
    const ran = batches.alone(
      "x",
      () => new Promise<string>((resolve) => (finish = () => resolve("x1 done"))),
    );
    expect(ran).toBeDefined();
    // Beside it: nothing runs alone, and an entry of its key waits for it to end.
    expect(batches.alone("y", () => Promise.resolve("y1"))).toBeUndefined();
    batches.add("x2");
    await turn();
    expect(sent).toEqual([]);
    finish();
    expect(await ran).toBe("x1 done");
    await turn();
    expect(sent).toEqual([["x2"]]);
    // With an entry waiting or a statement in flight, nothing runs alone either.
    expect(batches.alone("z", () => Promise.resolve("z1"))).toBeUndefined();
    await release();
    await batches.flushed();
    expect(await batches.alone("z", () => Promise.resolve("z1 done"))).toBe("z1 done");
    await batches.flushed();
  });

  it("with heldKeyOf, holds an entry whose key a statement in flight holds, and sends it with the turn's next ones", async () => {
    const { batches, sent, open } = heldByFirstLetter();
    batches.add("x1");
    await turn();
    expect(sent).toEqual([["x1"]]);
    // x2 waits for x1's statement; y1, of another key, goes beside it.
    batches.add("x2");
    batches.add("y1");
    await turn();
    expect(sent).toEqual([["x1"], ["y1"]]);
    // y1's end frees no key x2 waits for.
    open[1]?.();
    await turn();
    expect(sent).toEqual([["x1"], ["y1"]]);
    // x1's statement was the last in flight: x2 goes with what is added in the turn it ends in (x3).
    open[0]?.();
    await Promise.resolve();
    batches.add("x3");
    await turn();
    expect(sent).toEqual([["x1"], ["y1"], ["x2", "x3"]]);
    open[2]?.();
    await batches.flushed();
  });

  it("with heldKeyOf and other statements in flight, sends the entries a statement held as it ends", async () => {
    const { batches, sent, open } = heldByFirstLetter();
    batches.add("x1");
    await turn();
    batches.add("y1");
    await turn();
    batches.add("x2");
    await turn();
    expect(sent).toEqual([["x1"], ["y1"]]);
    // y1 still runs: x2 goes as x1 ends, not at the turn's end.
    open[0]?.();
    await Promise.resolve();
    await Promise.resolve();
    expect(sent).toEqual([["x1"], ["y1"], ["x2"]]);
    for (const resolve of open.splice(1)) resolve();
    await batches.flushed();
  });

  it("flushed() waits for entries put back for the next statement, and for every statement", async () => {
    const sent: number[][] = [];
    const batches: Batches<number> = new Batches<number>({
      send: async (batch) => {
        sent.push(batch);
        await new Promise((resolve) => setTimeout(resolve, 2));
        for (const n of batch) if (n > 0) batches.addForNext(n - 1);
      },
    });
    batches.add(2);
    batches.add(1);
    await batches.flushed();
    expect(sent).toEqual([[2], [1, 1], [0, 0]]);
  });

  it("refuses every call of a batch whose send rejects, the calls it answered first keeping their answer", async () => {
    const failure = new Error("the sender failed");
    const sent: number[][] = [];
    let hold!: () => void;
    const calls = new Batches<Call<number, number>>({
      send: async (batch) => {
        sent.push(batch.map((call) => call.input));
        if (sent.length === 1) await new Promise<void>((resolve) => (hold = resolve));
        if (batch.length > 1) (batch[0] as Call<number, number>).resolve(0);
        if (batch.some((call) => call.input < 0)) throw failure;
        answer(
          batch,
          batch.map((call) => call.input * 10),
        );
      },
    });
    const outcomes = new Map<number, unknown>();
    const ask = (n: number) =>
      callIn(calls, n, 0).then(
        (value) => outcomes.set(n, value),
        (error: unknown) => outcomes.set(n, error),
      );
    const asked = [1, 2, -3, 4, 5].map(ask);
    hold();
    // Every call is settled by the time flushed() resolves.
    await calls.flushed();
    expect(sent).toEqual([[1], [2, -3, 4, 5]]);
    expect([...outcomes].sort(([a], [b]) => a - b)).toEqual([
      [-3, failure],
      [1, 10],
      [2, 0],
      [4, failure],
      [5, failure],
    ]);
    await Promise.all(asked);
    // The next batch goes as usual.
    expect(await callIn(calls, 6, 0)).toBe(60);
  });

  it("refuses the calls of a batch whose send throws before it returns, and goes on", async () => {
    const failure = new Error("thrown at once");
    let hold!: () => void;
    const calls = new Batches<Call<number, number>>({
      send: (batch) => {
        if (batch[0]?.input === 2) throw failure;
        answer(
          batch,
          batch.map((call) => call.input * 10),
        );
        return batch[0]?.input === 1 ? new Promise<void>((resolve) => (hold = resolve)) : Promise.resolve();
      },
    });
    const first = callIn(calls, 1, 0);
    // Sent as the first statement ends: the send that throws is not the caller's.
    const thrownAt = [2, 3].map((n) => callIn(calls, n, 0).catch((error: unknown) => error));
    hold();
    expect(await first).toBe(10);
    expect(await Promise.all(thrownAt)).toEqual([failure, failure]);
    await calls.flushed();
    expect(await callIn(calls, 4, 0)).toBe(40);
  });

  it("hands a rejected batch of other entries to failed(), with the error", async () => {
    const failure = new Error("the sender failed");
    const failed: [string[], unknown][] = [];
    const batches = new Batches<string>({
      send: (batch) => (batch.includes("bad") ? Promise.reject(failure) : Promise.resolve()),
      failed: (batch, error) => failed.push([batch, error]),
    });
    batches.add("bad");
    batches.add("a");
    batches.add("b");
    await batches.flushed();
    expect(failed).toEqual([[["bad"], failure]]);
  });

  it("settles each call with its own answer", async () => {
    const calls = new Batches<Call<number, number>>({
      send: async (batch) =>
        answer(
          batch,
          batch.map((call) => call.input * 10),
        ),
    });
    expect(await Promise.all([1, 2, 3].map((n) => callIn(calls, n, 0)))).toEqual([10, 20, 30]);
  });
});
