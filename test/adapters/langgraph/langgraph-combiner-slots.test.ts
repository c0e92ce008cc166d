/**
 * Combiners sharing one store's StatementSlots keep no more statements in flight than the slots, and
 * the calls that wait for a slot join one statement; serialization work gives the event loop its turns.
 */
import { describe, expect, it } from "vitest";
import { Combiner, StatementSlots } from "../../../src/adapters/langgraph/combiner.js";
import { inTurn } from "../../../src/adapters/langgraph/turns.js";

/**
 * A Combiner of up to 4 statements in flight on `slots`, recording the most statements run at once.
 * Each statement takes 5 ms, or until `held` resolves when given.
 */
function combiner(
  slots: StatementSlots,
  running: { now: number; most: number },
  statements: string[][],
  held?: Promise<unknown>,
) {
  return new Combiner<string, string>(
    async (items) => {
      running.now++;
      running.most = Math.max(running.most, running.now);
      await (held ?? new Promise((resolve) => setTimeout(resolve, 5)));
      running.now--;
      if (items.includes("bad")) throw new Error("bad call");
      statements.push(items);
      return items.map((item) => `${item}!`);
    },
    4,
    () => 1,
    100,
    () => 1,
    1_000,
    slots,
  );
}

describe("StatementSlots shared by Combiners", () => {
  it("keep the statements of many combiners within the slots, every call answered", async () => {
    const slots = new StatementSlots(2);
    const running = { now: 0, most: 0 };
    const statements: string[][] = [];
    const combiners = Array.from({ length: 6 }, () => combiner(slots, running, statements));
    const calls = combiners.flatMap((c, i) =>
      Array.from({ length: 5 }, (_, j) => c.call(`${i}.${j}`).then((r) => r)),
    );
    const answers = await Promise.all(calls);
    expect(answers).toEqual(combiners.flatMap((_, i) => Array.from({ length: 5 }, (_, j) => `${i}.${j}!`)));
    expect(running.most).toBeLessThanOrEqual(2);
    expect(statements.flat().sort()).toEqual(answers.map((a) => a.slice(0, -1)).sort());
  });

  it("let the calls that came while a statement waited for a slot go together", async () => {
    const slots = new StatementSlots(1);
    const running = { now: 0, most: 0 };
    const statements: string[][] = [];
    // "a" holds its slot until the test lets it go: under load, a timer could end it between two turns.
    let letGo!: () => void;
    const first = combiner(slots, running, statements, new Promise<void>((resolve) => (letGo = resolve)));
    const second = combiner(slots, running, statements);
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    const busy = first.call("a");
    await turn();
    const waiting = [second.call("b")];
    await turn();
    // "b" waits for the slot "a" holds; what comes meanwhile goes with it.
    waiting.push(second.call("c"), second.call("d"));
    await turn();
    letGo();
    await Promise.all([busy, ...waiting]);
    expect(statements).toEqual([["a"], ["b", "c", "d"]]);
  });

  it("run a failed statement's calls again one at a time, within the slots", async () => {
    const slots = new StatementSlots(1);
    const running = { now: 0, most: 0 };
    const statements: string[][] = [];
    const c = combiner(slots, running, statements);
    const outcomes = await Promise.allSettled(["x", "bad", "y"].map((item) => c.call(item)));
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(statements).toEqual([["x"], ["y"]]);
    expect(running.most).toBe(1);
  });
});

describe("inTurn", () => {
  const busy = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // the work of serializing a large value
    }
  };

  it("runs work in order, each answer or error its own", async () => {
    const order: number[] = [];
    const results = await Promise.allSettled(
      [1, 2, 3, 4].map((n) =>
        inTurn(() => {
          busy(3);
          order.push(n);
          if (n === 3) throw new Error("three");
          return n * 10;
        }),
      ),
    );
    expect(order).toEqual([1, 2, 3, 4]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual([
      10,
      20,
      "three",
      40,
    ]);
  });

  it("lets the event loop take turns between large pieces of work", async () => {
    const events: string[] = [];
    const work = [1, 2, 3].map((n) =>
      inTurn(() => {
        busy(15);
        events.push(`work ${n}`);
      }),
    );
    setImmediate(() => events.push("other"));
    await Promise.all(work);
    expect(events.indexOf("other")).toBeGreaterThan(0);
    expect(events.indexOf("other")).toBeLessThan(3);
  });
});
