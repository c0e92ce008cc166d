/** Streams: gap-free indexes, reads from either end, close, and live tails in this process and another. */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import fc from "fast-check";
import { afterAll, describe, expect, it, vi } from "vitest";
import {
  ConflictError,
  type Store,
  type StreamChunk,
  StreamClosedError,
  type StreamTailOptions,
  uuidv7,
  ValidationError,
} from "../../src/index.js";
import { fixtureScript } from "../support/fixture-process.js";
import {
  asJson,
  badUuid,
  checkProperty,
  json,
  rowCounts,
  text,
  writeOrRefuse,
} from "../support/fuzz-inputs.js";
import { forEachDriver } from "../support/harness.js";
import { NODE_FLAGS } from "../support/node-flags.js";
import { until } from "../support/waiting.js";

const TAIL_FIXTURE = fixtureScript("stream-tail.ts");
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
});

/** Collects a tail's chunks until it ends. */
async function collect(chunks: AsyncIterable<StreamChunk>): Promise<StreamChunk[]> {
  const seen: StreamChunk[] = [];
  for await (const chunk of chunks) seen.push(chunk);
  return seen;
}

const indexes = (chunks: StreamChunk[]) => chunks.map((chunk) => chunk.index);
const data = (chunks: StreamChunk[]) => chunks.map((chunk) => chunk.data);

/** A chunk written with plain SQL, as if by a writer whose NOTIFY never arrived. */
async function writeSilently(store: Store, executionId: string, name: string, value: string): Promise<void> {
  await store.transaction(async (tx) => {
    const { rows } = await tx.query<{ index: number }>(
      `update ${store.schema}.streams set next_index = next_index + 1
        where execution_id = $1 and name = $2 returning next_index - 1 as index`,
      [executionId, name],
    );
    await tx.query(
      `insert into ${store.schema}.stream_chunks (execution_id, stream, chunk_index, data) values ($1, $2, $3, $4)`,
      [executionId, name, rows[0]?.index, JSON.stringify(value)],
    );
  });
}

forEachDriver((driver) => {
  describe("streams", () => {
    it("numbers chunks from 0 without gaps, and keeps JSON and bytes as written", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      expect(await store.streams.write(executionId, "out", "hello")).toBe(0);
      expect(await store.streams.writeMany(executionId, "out", [{ a: 1 }, null, Buffer.from([0, 255])])).toBe(
        1,
      );
      expect(await store.streams.write(executionId, "out", new Uint8Array([1, 2]))).toBe(4);
      expect(await store.streams.write(executionId, "other", "x")).toBe(0);
      expect(await store.streams.write(uuidv7(), "out", "x")).toBe(0);

      const page = await store.streams.read(executionId, "out");
      expect(indexes(page.chunks)).toEqual([0, 1, 2, 3, 4]);
      expect(data(page.chunks)).toEqual([
        "hello",
        { a: 1 },
        null,
        Buffer.from([0, 255]),
        Buffer.from([1, 2]),
      ]);
      expect(Buffer.isBuffer(page.chunks[3]?.data)).toBe(true);
      expect(page).toMatchObject({ nextIndex: 5, tailIndex: 4, closed: false });
      expect(await store.streams.info(executionId, "out")).toEqual({ tailIndex: 4, closed: false });
      expect(await store.streams.list(executionId)).toEqual(["other", "out"]);
    });

    it("reads from an index, from the end with a negative one, and up to a limit", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      await store.streams.writeMany(
        executionId,
        "s",
        Array.from({ length: 10 }, (_, i) => `c${i}`),
      );
      const read = async (from?: number, limit?: number) => {
        const page = await store.streams.read(executionId, "s", { from, limit });
        return { at: indexes(page.chunks), next: page.nextIndex };
      };
      expect(await read(3, 4)).toEqual({ at: [3, 4, 5, 6], next: 7 });
      expect(await read(-1)).toEqual({ at: [9], next: 10 });
      expect(await read(-3)).toEqual({ at: [7, 8, 9], next: 10 });
      expect(await read(-100, 2)).toEqual({ at: [0, 1], next: 2 });
      expect(await read(10)).toEqual({ at: [], next: 10 });
      expect(await read(25)).toEqual({ at: [], next: 25 });
      expect((await store.streams.read(executionId, "s", { from: -1 })).chunks[0]?.data).toBe("c9");

      // A stream that does not exist reads as empty and open.
      expect(await store.streams.read(executionId, "none", { from: -1 })).toEqual({
        chunks: [],
        nextIndex: 0,
        tailIndex: -1,
        closed: false,
      });
      expect(await store.streams.info(executionId, "none")).toEqual({ tailIndex: -1, closed: false });
    });

    it("refuses writes once closed, with StreamClosedError and nothing written", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      await store.streams.writeMany(executionId, "s", ["a", "b"]);
      await store.streams.close(executionId, "s");
      expect(await store.streams.info(executionId, "s")).toEqual({ tailIndex: 1, closed: true });
      const counts = await rowCounts(store);

      const error = await store.streams.write(executionId, "s", "c").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StreamClosedError);
      expect(error).toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({ code: "CONFLICT", executionId, stream: "s" });
      await expect(store.streams.writeMany(executionId, "s", ["c", "d"])).rejects.toBeInstanceOf(
        StreamClosedError,
      );
      await expect(store.streams.write(executionId, "s", "c", { close: true })).rejects.toBeInstanceOf(
        StreamClosedError,
      );
      // Closing again is no error and changes nothing.
      await store.streams.close(executionId, "s");
      expect(await rowCounts(store)).toEqual(counts);
      expect(data((await store.streams.read(executionId, "s")).chunks)).toEqual(["a", "b"]);

      // The last write can close the stream in the same statement; a stream can be closed before any write.
      expect(await store.streams.write(executionId, "t", "last", { close: true })).toBe(0);
      expect(await store.streams.info(executionId, "t")).toEqual({ tailIndex: 0, closed: true });
      await store.streams.close(executionId, "empty");
      expect(await store.streams.read(executionId, "empty")).toEqual({
        chunks: [],
        nextIndex: 0,
        tailIndex: -1,
        closed: true,
      });
      expect(await store.streams.list(executionId)).toEqual(["empty", "s", "t"]);
    });

    it("takes its indexes back when the writing transaction rolls back", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      await store.streams.write(executionId, "s", "a");
      await expect(
        store.transaction(async (tx) => {
          expect(await tx.streams.writeMany(executionId, "s", ["lost", "lost"])).toBe(1);
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await store.streams.write(executionId, "s", "b")).toBe(1);
      expect(data((await store.streams.read(executionId, "s")).chunks)).toEqual(["a", "b"]);
    });

    it("deletes one stream, or all of an execution's, with their chunks", async () => {
      const store = await driver.open();
      const [a, b] = [uuidv7(), uuidv7()];
      for (const name of ["x", "y", "z"]) await store.streams.writeMany(a, name, [1, 2]);
      await store.streams.write(b, "x", 1);
      expect(await store.streams.delete(a, "x")).toBe(1);
      expect(await store.streams.list(a)).toEqual(["y", "z"]);
      expect(await store.streams.delete(a)).toBe(2);
      expect(await store.streams.list(a)).toEqual([]);
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.stream_chunks where execution_id = $1`,
        [a],
      );
      expect(rows[0]?.n).toBe(0);
      expect(await store.streams.info(b, "x")).toEqual({ tailIndex: 0, closed: false });
    });

    it("tails live: every chunk in order from the start index, ending when the stream is closed", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      await store.streams.writeMany(executionId, "s", ["a", "b", "c"]);
      // They poll once a minute: what reaches them sooner came through NOTIFY.
      const tail = (options: StreamTailOptions = {}) =>
        collect(store.streams.tail(executionId, "s", { pollIntervalMs: 60_000, ...options }));
      const fromStart = tail();
      const fromLast = tail({ from: -1 });
      const fromLater = tail({ from: 5 });
      // Small batches: the tail reads on at once while a read comes back full.
      const inBatches = tail({ batchSize: 2 });
      for (let i = 0; i < 5; i++) {
        await store.streams.write(executionId, "s", `live ${i}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await store.streams.writeMany(executionId, "s", ["x", "y"], { close: true });
      const all = ["a", "b", "c", "live 0", "live 1", "live 2", "live 3", "live 4", "x", "y"];
      expect(data(await fromStart)).toEqual(all);
      expect(indexes(await fromStart)).toEqual(all.map((_, i) => i));
      expect(data(await inBatches)).toEqual(all);
      expect(data(await fromLater)).toEqual(all.slice(5));
      // -1 is resolved once, at the tail's first read: it starts at what was the last chunk then (at
      // least "c") and goes on from there.
      const last = indexes(await fromLast);
      const start = last[0] ?? -1;
      expect(start).toBeGreaterThanOrEqual(2);
      expect(last).toEqual(all.map((_, i) => i).slice(start));

      // A closed stream's tail yields what there is and ends.
      expect(data(await collect(store.streams.tail(executionId, "s", { from: -2 })))).toEqual(["x", "y"]);
    });

    it("stops a tail on abort or when the loop breaks", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      await store.streams.write(executionId, "s", "a");
      const abort = new AbortController();
      const seen: StreamChunk[] = [];
      const aborted = (async () => {
        const options = { signal: abort.signal, pollIntervalMs: 60_000 };
        for await (const chunk of store.streams.tail(executionId, "s", options)) {
          seen.push(chunk);
        }
      })();
      await until(() => seen.length === 1);
      abort.abort();
      await aborted;
      expect(data(seen)).toEqual(["a"]);

      const taken: unknown[] = [];
      for await (const chunk of store.streams.tail(executionId, "s")) {
        taken.push(chunk.data);
        break;
      }
      expect(taken).toEqual(["a"]);
      // An already aborted signal yields nothing.
      expect(await collect(store.streams.tail(executionId, "s", { signal: AbortSignal.abort() }))).toEqual(
        [],
      );
    });

    it("finds chunks whose notification never came by polling", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      await store.streams.write(executionId, "s", "a");
      const seen: unknown[] = [];
      const tail = (async () => {
        for await (const chunk of store.streams.tail(executionId, "s", { pollIntervalMs: 20 })) {
          seen.push(chunk.data);
          if (seen.length === 2) break;
        }
      })();
      await until(() => seen.length === 1);
      await writeSilently(store, executionId, "s", "quiet");
      await tail;
      expect(seen).toEqual(["a", "quiet"]);
    });

    it("polls where the driver cannot LISTEN", async () => {
      const store = await driver.open();
      // As on another process's embedded store, reached through its socket.
      const capabilities = { ...store.driver.capabilities, listen: false };
      Object.defineProperty(store.driver, "capabilities", { value: capabilities });
      const listen = vi.spyOn(store.driver, "listen");
      const executionId = uuidv7();
      const tail = collect(store.streams.tail(executionId, "s", { pollIntervalMs: 20 }));
      for (const chunk of ["a", "b", "c"]) await store.streams.write(executionId, "s", chunk);
      await store.streams.close(executionId, "s");
      expect(data(await tail)).toEqual(["a", "b", "c"]);
      expect(listen).not.toHaveBeenCalled();
    });

    it("refuses bad input with a ValidationError and writes nothing", async () => {
      const store = await driver.open({ limits: { jsonBytes: 1024 } });
      const executionId = uuidv7();
      await store.streams.write(executionId, "s", "kept");
      const counts = await rowCounts(store);
      const refusals: Array<() => Promise<unknown>> = [
        () => store.streams.write("nope", "s", "x"),
        () => store.streams.write(executionId, "", "x"),
        () => store.streams.write(executionId, "nul\u0000", "x"),
        () => store.streams.write(executionId, "x".repeat(256), "x"),
        () => store.streams.write(executionId, 42 as unknown as string, "x"),
        () => store.streams.write(executionId, "s", undefined),
        () => store.streams.write(executionId, "s", 1n),
        () => store.streams.write(executionId, "s", { a: Number.POSITIVE_INFINITY }),
        () => store.streams.write(executionId, "s", "x".repeat(2000)),
        () => store.streams.write(executionId, "s", new Uint8Array(1025)),
        () => store.streams.writeMany(executionId, "s", []),
        () => store.streams.writeMany(executionId, "s", "abc" as unknown as string[]),
        () =>
          store.streams.writeMany(
            executionId,
            "s",
            Array.from({ length: 10_001 }, () => 1),
          ),
        () => store.streams.writeMany(executionId, "s", ["fine", 1n]),
        () => store.streams.close("nope", "s"),
        () => store.streams.read(executionId, "s", { from: 1.5 }),
        () => store.streams.read(executionId, "s", { from: 2 ** 31 }),
        () => store.streams.read(executionId, "s", { limit: 0 }),
        () => store.streams.read(executionId, "s", { limit: 1001 }),
        () => store.streams.info(executionId, ""),
        () => store.streams.list("nope"),
        () => store.streams.delete(executionId, ""),
        async () => store.streams.tail("nope", "s"),
        async () => store.streams.tail(executionId, "s", { from: Number.NaN }),
        async () => store.streams.tail(executionId, "s", { batchSize: 0 }),
        async () => store.streams.tail(executionId, "s", { pollIntervalMs: -1 }),
      ];
      for (const [i, refusal] of refusals.entries()) {
        await expect(refusal(), `refusal ${i}`).rejects.toBeInstanceOf(ValidationError);
      }
      expect(await rowCounts(store)).toEqual(counts);
      expect(data((await store.streams.read(executionId, "s")).chunks)).toEqual(["kept"]);
    });

    it("streams.write and writeMany, fuzzed: store what they are given or refuse it and change no row", async () => {
      const store = await driver.open();
      const executionId = uuidv7();
      await checkProperty(
        [
          fc.oneof({ weight: 4, arbitrary: fc.constant(executionId) }, badUuid),
          fc.oneof({ weight: 3, arbitrary: fc.constantFrom("a", "b") }, text),
          fc.array(json, { maxLength: 4 }),
          fc.boolean(),
        ],
        (id, name, chunks, close) =>
          writeOrRefuse(
            store,
            () => store.streams.writeMany(id as string, name as string, chunks, { close }),
            async (first) => {
              const page = await store.streams.read(executionId, name as string, { from: first, limit: 10 });
              expect(data(page.chunks)).toEqual(chunks.map(asJson));
              expect(page.closed).toBe(close);
            },
          ),
      );
    });

    if (driver.concurrent) {
      it("hands concurrent writers gap-free indexes in commit order, each writer's chunks in its order", async () => {
        const store = await driver.open({ pool: { max: 10 } });
        const executionId = uuidv7();
        const writers = 8;
        const rounds = 25;
        const firsts = await Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            const mine: Array<[number, number]> = [];
            for (let r = 0; r < rounds; r++) {
              const size = (r % 3) + 1;
              const chunks = Array.from({ length: size }, (_, k) => ({ w, r, k }));
              mine.push([await store.streams.writeMany(executionId, "s", chunks), size]);
            }
            return mine;
          }),
        );
        const total = firsts.flat().reduce((sum, [, size]) => sum + size, 0);
        const chunks: StreamChunk[] = [];
        for (let from = 0; from < total; from += 1000) {
          chunks.push(...(await store.streams.read(executionId, "s", { from, limit: 1000 })).chunks);
        }
        expect(indexes(chunks)).toEqual(Array.from({ length: total }, (_, i) => i));
        for (let w = 0; w < writers; w++) {
          const own = chunks
            .map((chunk) => chunk.data as { w: number; r: number; k: number })
            .filter((c) => c.w === w);
          expect(own.map((c) => [c.r, c.k])).toEqual(
            Array.from({ length: rounds }, (_, r) =>
              Array.from({ length: (r % 3) + 1 }, (_, k) => [r, k]),
            ).flat(),
          );
          // Each write's first index is where its chunks are.
          for (const [first, size] of firsts[w] ?? []) {
            const written = chunks.slice(first, first + size).map((chunk) => chunk.data as { w: number });
            expect(written.every((c) => c.w === w)).toBe(true);
          }
        }
        expect(await store.streams.info(executionId, "s")).toEqual({ tailIndex: total - 1, closed: false });
      });

      it("feeds a tail in another process every chunk in order, woken by NOTIFY", {
        timeout: 60_000,
      }, async () => {
        const store = await driver.open({ pool: { max: 4 } });
        const executionId = uuidv7();
        // The child polls only once a minute: what reaches it sooner came through NOTIFY.
        const child = spawn(
          process.execPath,
          [
            ...NODE_FLAGS,
            TAIL_FIXTURE,
            (await driver.connection()) as string,
            store.schema,
            executionId,
            "tokens",
          ],
          { stdio: ["ignore", "pipe", "inherit"] },
        );
        children.push(child);
        const lines: string[] = [];
        createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) =>
          lines.push(line),
        );
        const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
        await until(() => lines.includes("ready"));

        const expected: unknown[] = [];
        const write = async (chunks: unknown[]) => {
          await store.streams.writeMany(executionId, "tokens", chunks);
          expected.push(...chunks);
        };
        await write(["first"]);
        // Once the first chunk is through, the tail is listening: the rest can only arrive by NOTIFY.
        await until(() => lines.length === 2);
        for (let i = 0; i < 20; i++) {
          await write([`token ${i}`]);
          await until(() => lines.length === expected.length + 1);
        }
        await Promise.all(Array.from({ length: 10 }, (_, i) => write([{ burst: i }, { burst: i, part: 2 }])));
        await write([Buffer.from("bytes")]);
        await store.streams.close(executionId, "tokens");
        expect(await exited).toBe(0);

        expect(lines[0]).toBe("ready");
        expect(lines.at(-1)).toBe("end");
        const received = lines.slice(1, -1).map((line) => JSON.parse(line) as StreamChunk);
        expect(indexes(received)).toEqual(expected.map((_, i) => i));
        const stored = (await store.streams.read(executionId, "tokens", { limit: 1000 })).chunks;
        expect(data(received)).toEqual(data(stored).map(asJson));
      });
    }
  });
});
