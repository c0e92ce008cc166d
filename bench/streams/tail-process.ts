/**
 * The streams bench's reader in a process of its own:
 *   tail-process.ts <url> <schema> <executionId> <name>
 * Prints "ready" once its store is open, then "<index> <epoch ms>" as the tail yields each chunk (the
 * time from performance.timeOrigin, which processes on one machine share to a fraction of a
 * millisecond), and "end" when the stream is closed.
 */
import { performance } from "node:perf_hooks";
import { openStore } from "../../src/index.js";

const [url, schema, executionId, name] = process.argv.slice(2) as [string, string, string, string];
const store = await openStore({ connection: url, schema, migrate: false, pool: { max: 2 } });
process.stdout.write("ready\n");
// A poll once a minute: every chunk that arrives sooner was announced by NOTIFY.
for await (const chunk of store.streams.tail(executionId, name, { pollIntervalMs: 60_000 })) {
  process.stdout.write(`${chunk.index} ${performance.timeOrigin + performance.now()}\n`);
}
process.stdout.write("end\n");
await store.close();
