/**
 * Batched writes of large values: writes made at the same time share a statement whose one JSON
 * parameter the server holds to 256 MB (jsonb's limit), however many writes it carries. Writes each
 * valid alone are each answered as if they had gone alone, however many of them arrive at once, and
 * each is written once.
 */
import { describe, expect, it } from "vitest";
import { BATCH_BYTES, WriteBatcher } from "../../src/core/write-batch.js";
import { uuidv7 } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

/**
 * Writes of the largest value a field takes by default (4 MiB of JSON): the first goes alone, and the
 * others, waiting for it, would make one statement of over 256 MiB.
 */
const WRITES = 68;
const BIG = "x".repeat(4 * 1024 * 1024 - 2);

describe("batch sizes", () => {
  it("a statement carries writes up to BATCH_BYTES, or one larger write alone", async () => {
    const sent: number[][] = [];
    const batcher = new WriteBatcher<string, number>(async (inputs) => {
      sent.push(inputs.map((input) => input.length));
      return inputs.map((input) => input.length);
    }, String);
    const third = Math.floor(BATCH_BYTES / 3);
    const sizes = [1, third, third, third, BATCH_BYTES + 1, third, 2];
    const inputs = sizes.map((size, i) => String.fromCharCode(97 + i).repeat(size));
    expect(await Promise.all(inputs.map((input) => batcher.write(input)))).toEqual(sizes);
    // The first goes alone, as it arrives. Two thirds fit in one statement, three do not: the third
    // waits, and a smaller write behind it takes the room left. The oldest waiting goes first, so the
    // large one goes next, alone.
    expect(sent).toEqual([[1], [third, third, 2], [third, third], [BATCH_BYTES + 1]]);
  });
});

forEachDriver((driver) => {
  describe("batches of large writes", { timeout: 120_000 }, () => {
    it("records of large steps made at the same time each succeed", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      const results = await Promise.allSettled(
        Array.from({ length: WRITES }, (_, number) =>
          store.steps.record({ executionId, number, name: `step-${number}`, output: BIG }),
        ),
      );
      const refused = results.filter((r) => r.status === "rejected");
      expect(refused.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      for (const [number, result] of results.entries()) {
        expect(result.status === "fulfilled" && result.value.created, `step ${number}`).toBe(true);
      }
      const { rows } = await store.query<{ n: number; steps: number; whole: number }>(
        `select count(*)::int as n, count(distinct step_number)::int as steps,
                count(*) filter (where output #>> '{}' = $2)::int as whole
           from "${store.schema}".steps where execution_id = $1`,
        [executionId, BIG],
      );
      expect(rows[0]).toEqual({ n: WRITES, steps: WRITES, whole: WRITES });
    });

    it("starts by name with large inputs made at the same time each succeed", async () => {
      const store = await driver.open();
      const name = "large-inputs";
      const results = await Promise.allSettled(
        Array.from({ length: WRITES }, (_, i) =>
          store.executions.start({ name, input: BIG, idempotencyKey: `k-${i}` }),
        ),
      );
      const refused = results.filter((r) => r.status === "rejected");
      expect(refused.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      for (const result of results) {
        expect(result.status === "fulfilled" && result.value.created).toBe(true);
      }
      const { rows } = await store.query<{ n: number; keys: number; whole: number }>(
        `select count(*)::int as n, count(distinct idempotency_key)::int as keys,
                count(*) filter (where input #>> '{}' = $2)::int as whole
           from "${store.schema}".executions where name = $1`,
        [name, BIG],
      );
      expect(rows[0]).toEqual({ n: WRITES, keys: WRITES, whole: WRITES });
    });

    it("a batch the server refuses for its size sends each write alone", async () => {
      const store = await driver.open();
      const statements: number[][] = [];
      // An array of the batch's total length: past 134,217,727 elements (268,435,455 on PGlite's 32
      // bits) the server refuses it (54000) before allocating anything; each write's own share fits.
      const batcher = new WriteBatcher<number, number>(
        async (lengths) => {
          statements.push(lengths);
          const total = lengths.reduce((a, b) => a + b, 0);
          await store.query("select cardinality(array_fill(0, array[$1::int])) as n", [total]);
          return lengths;
        },
        String,
        () => 1,
      );
      const share = 100_000_000;
      const written = await Promise.all([1, share, share + 1, share + 2].map((n) => batcher.write(n)));
      expect(written).toEqual([1, undefined, undefined, undefined]);
      expect(statements).toEqual([[1], [share, share + 1, share + 2]]);
    });
  });
});
