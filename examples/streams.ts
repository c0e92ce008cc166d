/**
 * Streams: ordered chunks per (execution, name), such as a model's tokens, read live from anywhere.
 *
 *   npx tsx examples/streams.ts
 */
import { openStore } from "flowstore";

const store = await openStore();
const { execution } = await store.executions.start({ name: "chat" });
const executionId = execution.id;
const signal = AbortSignal.timeout(10_000);

// #region streams
await store.streams.write(executionId, "tokens", "Hel"); // returns the chunk's index: 0, 1, 2... without gaps
await store.streams.writeMany(executionId, "tokens", ["lo", " wor", "ld"], { close: true });

const page = await store.streams.read(executionId, "tokens", { from: -1 }); // the last chunk; from: 0 (default) the first
// page: { chunks: [{ index, data }], nextIndex, tailIndex, closed }
let text = "";
for await (const chunk of store.streams.tail(executionId, "tokens", { from: 0, signal })) {
  text += String(chunk.data); // every chunk in order, as it commits; the loop ends when the stream is closed or signal aborts
}
// #endregion

console.log(`last chunk ${JSON.stringify(page.chunks[0]?.data)}, whole stream ${JSON.stringify(text)}`);
await store.close();
