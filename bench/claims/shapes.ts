/**
 * The backlog shapes the claims bench compares: for each, how to make the one template job through the
 * public API (scheduled, dead, completed, leased...) and which columns vary between its copies. The
 * empty shapes are the baseline and its control.
 */
import type { Store } from "../../src/index.js";
import { QUEUE } from "./queue-under-test.js";

const HOUR = 3_600_000;

/** Where a template job ended up: the row the backlog copies. */
export interface Template {
  table: "jobs" | "jobs_history";
  id: string;
}

export interface Shape {
  name: string;
  /**
   * Makes one job through the public API, left as the backlog's jobs should be (none for the baseline).
   * The backlog is copies of its row: whatever status, lease and columns the library gives a job in
   * that state, the copies have too, however the library comes to store it.
   */
  template?: (store: Store) => Promise<Template>;
  /** Column expressions that differ between copies (see copyRows); the template's value otherwise. */
  vary?: Record<string, string>;
}

/** Claims the one job of a queue (there must be one) for `leaseMs`. */
async function claimOnly(store: Store, queue: string, leaseMs?: number) {
  const [job] = await store.jobs.claim({ queue, workerId: "backlog-worker", limit: 1, leaseMs });
  if (!job) throw new Error(`no job to claim in ${queue}`);
  return job;
}

/** A job due in a day, of priority 10 (the ready job under test has 0). */
async function later(store: Store): Promise<Template> {
  const runAt = new Date(Date.now() + 24 * HOUR);
  const id = await store.jobs.enqueue({
    queue: QUEUE,
    name: "later",
    payload: { n: 0 },
    priority: 10,
    runAt,
  });
  return { table: "jobs", id };
}

export const SHAPES: Shape[] = [
  { name: "empty" },
  {
    // Due in a day and outranking the ready job: as enqueue({ runAt, priority: 10 }) stores them.
    name: "future, higher priority",
    template: later,
  },
  {
    // The same, each with a priority of its own (11, 12, ...). PostgreSQL 18 passes all the future jobs
    // of one priority in one index search (a skip scan), but makes one search per priority.
    name: "future, distinct priorities",
    template: later,
    vary: { priority: "t.priority + g" },
  },
  {
    // Ready jobs, spread over 1,000 other queues.
    name: "other queues",
    template: async (store) => ({
      table: "jobs",
      id: await store.jobs.enqueue({ queue: "other-0", name: "backlog", payload: { n: 0 } }),
    }),
    vary: { queue: "'other-' || (g % 1000)" },
  },
  {
    // Failed on their last attempt.
    name: "dead",
    template: async (store) => {
      await store.jobs.enqueue({ queue: QUEUE, name: "doomed", payload: { n: 0 }, maxAttempts: 1 });
      const job = await claimOnly(store, QUEUE);
      await store.jobs.fail(job, { message: "boom" });
      return { table: "jobs", id: job.id };
    },
  },
  {
    // Completed with keepCompleted: records in jobs_history.
    name: "history",
    template: async (store) => {
      await store.jobs.enqueue({ queue: QUEUE, name: "done", payload: { n: 0 } });
      const job = await claimOnly(store, QUEUE);
      await store.jobs.complete(job, { keepCompleted: true });
      return { table: "jobs_history", id: job.id };
    },
  },
  {
    // Claimed in other queues by workers that died: their leases ran out (up to an hour ago).
    name: "expired leases elsewhere",
    template: async (store) => {
      await store.jobs.enqueue({ queue: "other-0", name: "orphaned", payload: { n: 0 } });
      const job = await claimOnly(store, "other-0", 1);
      return { table: "jobs", id: job.id };
    },
    vary: { queue: "'other-' || (g % 1000)" },
  },
  {
    // Running in "q" itself under leases held by live workers: two hours, so an hour or more after the
    // copies' shift, past the end of the run.
    name: "live leases in q",
    template: async (store) => {
      await store.jobs.enqueue({ queue: QUEUE, name: "busy", payload: { n: 0 } });
      const job = await claimOnly(store, QUEUE, 2 * HOUR);
      return { table: "jobs", id: job.id };
    },
  },
  // A second empty database, timed in the same turns: how far apart two identical shapes come out.
  { name: "empty (control)" },
];
