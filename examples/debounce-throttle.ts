/**
 * Debounce and throttle on enqueue: a document saved many times in a row is indexed once, with its
 * last content; a report asked for many times a minute is built once.
 *
 *   npx tsx examples/debounce-throttle.ts
 */
import { openStore } from "flowstore";

const store = await openStore();

// #region debounce
// Each save moves the one waiting job: the last save's content, indexed 2 s after it (and never more
// than 30 s after the first save, however often the document is saved).
for (const text of ["H", "He", "Hello"]) {
  await store.jobs.enqueue({
    queue: "search",
    name: "index",
    payload: { doc: "readme", text },
    debounce: { key: "doc:readme", ms: 2_000, maxMs: 30_000 },
  });
}
// #endregion

// #region throttle
// The first request of the minute builds the report; the others return that job.
const asked = [];
for (let i = 0; i < 5; i++) {
  asked.push(
    await store.jobs.enqueue({ queue: "reports", name: "build", throttle: { key: "sales", ms: 60_000 } }),
  );
}
// #endregion

const [indexing] = await store.jobs.list({ queue: "search" });
console.log(`index ${JSON.stringify(indexing?.payload)}, absorbed ${indexing?.absorbed}`);
const [report] = await store.jobs.list({ queue: "reports" });
console.log(`${new Set(asked).size} report job for 5 requests, absorbed ${report?.absorbed}`);
await store.close();
