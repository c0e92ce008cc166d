/**
 * The saver's Combiner puts calls together up to a number of rows and, whatever the rows, up to about
 * BATCH_BYTES of values: seventy puts of 4 MiB channel values in one statement make arrays that no
 * JavaScript string can hold as text, and that statement would fail before it was sent, sending every
 * call again alone.
 */
import { describe, expect, it } from "vitest";
import { Combiner } from "../../../src/adapters/langgraph/combiner.js";
import type { CheckpointWrite, SaverWrite } from "../../../src/adapters/langgraph/saver-writes.js";
import { rowCount } from "../../../src/adapters/langgraph/saver-writes.js";
import { BATCH_BYTES } from "../../../src/core/write-batch.js";

const VALUE = new Uint8Array(4 * 1024 * 1024);

/** A put as the saver hands it to its Combiner, with one channel value of 4 MiB. */
function put(i: number, value = VALUE): CheckpointWrite {
  return {
    kind: "checkpoint",
    thread: `t${i}`,
    ns: "",
    id: `c${i}`,
    parent: null,
    checkpoint: "{}",
    metadata: { json: "{}", type: null, bytes: null },
    blobs: { channels: ["v"], versions: ["1"], types: ["bytes"], blobs: [value] },
  };
}

/** A Combiner as the saver makes its writes' one (rows up to 2,000), recording each statement's calls. */
function combiner() {
  const statements: string[][] = [];
  const writes = new Combiner<SaverWrite, string>(
    async (items) => {
      statements.push(items.map((item) => item.thread));
      return items.map((item) => item.thread);
    },
    1,
    rowCount,
    2_000,
  );
  return { writes, statements };
}

describe("Combiner batch sizes", () => {
  it("puts of large values made together go in statements of at most BATCH_BYTES, each call answered", async () => {
    const { writes, statements } = combiner();
    const count = 72;
    const results = await Promise.all(Array.from({ length: count }, (_, i) => writes.call(put(i))));
    expect(results).toEqual(Array.from({ length: count }, (_, i) => `t${i}`));
    // In order, each call once, and never more values in a statement than BATCH_BYTES.
    expect(statements.flat()).toEqual(results);
    for (const statement of statements) {
      expect(statement.length * VALUE.byteLength).toBeLessThanOrEqual(BATCH_BYTES);
    }
  });

  it("a call larger than BATCH_BYTES goes alone, and the small calls around it together", async () => {
    const { writes, statements } = combiner();
    const small = new Uint8Array(16);
    const calls = [put(0, small), put(1, small), put(2, new Uint8Array(BATCH_BYTES + 1)), put(3, small)];
    expect(await Promise.all(calls.map((call) => writes.call(call)))).toEqual(["t0", "t1", "t2", "t3"]);
    expect(statements).toEqual([["t0", "t1"], ["t2"], ["t3"]]);
  });
});
