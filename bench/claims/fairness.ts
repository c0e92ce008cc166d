/**
 * The wait of a small tenant's one job behind a large tenant's backlog, with a worker draining the
 * queue: from its enqueue to its handler's start, and how many of the large tenant's jobs started in
 * between. With each tenant in a group of its own (with the worker's default prefetch, and with a
 * small fixed batchSize), and without groups (one line, first come first served), each in a database
 * of its own.
 */
import { performance } from "node:perf_hooks";
import { openStore } from "../../src/index.js";
import type { BenchContext, Row } from "../lib.js";

const CONCURRENCY = 8;
/** The large tenant's jobs that start before the small one is enqueued: the worker at full speed. */
export const WARM_JOBS = 10_000;

async function waitFor(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 1));
}

/** How the queue is worked: with a group per tenant or none, and the worker's batchSize if fixed. */
interface Mode {
  grouped: boolean;
  batchSize?: number;
}

async function smallTenantWait(
  context: BenchContext,
  backlog: number,
  { grouped, batchSize }: Mode,
): Promise<Row> {
  const url = await context.freshDatabase();
  const store = await openStore({ connection: url });
  try {
    for (let done = 0; done < backlog; done += 5_000) {
      const n = Math.min(5_000, backlog - done);
      await store.jobs.enqueue(
        Array.from({ length: n }, (_, i) => ({
          queue: "tenants",
          name: "large",
          payload: { i: done + i },
          group: grouped ? "large" : undefined,
        })),
      );
    }
    let large = 0;
    let largeAtEnqueue = 0;
    let startedAt: number | undefined;
    let largeAtStart = 0;
    const worker = store.jobs.work({
      queue: "tenants",
      concurrency: CONCURRENCY,
      batchSize,
      handler: (job) => {
        if (job.name === "small") {
          startedAt = performance.now();
          largeAtStart = large;
        } else large++;
      },
    });
    await waitFor(() => large >= WARM_JOBS);
    largeAtEnqueue = large;
    const enqueuedAt = performance.now();
    await store.jobs.enqueue({ queue: "tenants", name: "small", group: grouped ? "small" : undefined });
    await waitFor(() => startedAt !== undefined);
    await worker.stop();
    return {
      queue: grouped ? "a group per tenant" : "no groups (first come, first served)",
      "worker's batchSize": batchSize ?? "default (grows to 1,000)",
      "large tenant's jobs": backlog,
      "small job's wait ms": (startedAt as number) - enqueuedAt,
      "large jobs started meanwhile": largeAtStart - largeAtEnqueue,
    };
  } finally {
    await store.close();
    await context.dropDatabase(url);
  }
}

export async function fairness(context: BenchContext, backlog: number): Promise<Row[]> {
  const rows: Row[] = [];
  // The default prefetch holds up to a quarter second of work, which runs before a job claimed after
  // it; a fixed batchSize of twice the concurrency holds little more than the running jobs.
  for (const mode of [{ grouped: true }, { grouped: true, batchSize: 2 * CONCURRENCY }, { grouped: false }]) {
    rows.push(await smallTenantWait(context, backlog, mode));
  }
  return rows;
}
