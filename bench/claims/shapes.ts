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
  /**
   * The group of each round's probe job, if it has one: a tenant of its own each round, whose one job
   * the claim must hand out before any of the backlog's.
   */
  probeGroup?: (round: number | string) => string;
  /** After the copies: what the library keeps beside grouped jobs (see groupRows). */
  afterCopy?: (store: Store) => Promise<void>;
}

/**
 * The group rows an enqueue makes for the backlog's copies, each group as recently served (the backlog
 * has been worked on), as one statement: the copies are made by SQL, not by enqueues.
 */
async function groupRows(store: Store): Promise<void> {
  await store.query(
    `insert into "${store.schema}".job_groups (queue, name, served_at)
     select distinct queue, group_name, now() from "${store.schema}".jobs where group_name is not null
     on conflict (queue, name) do update set served_at = excluded.served_at`,
  );
}

/** A ready job of tenant `group` in "q", for the grouped shapes. */
async function grouped(store: Store, group: string): Promise<Template> {
  const id = await store.jobs.enqueue({ queue: QUEUE, name: "tenant", payload: { n: 0 }, group });
  return { table: "jobs", id };
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
  {
    // In "q" itself, each waiting for a job that runs elsewhere under a live worker's lease (enqueued
    // with `after`): as many jobs as the backlog wait on dependencies.
    name: "waiting on dependencies in q",
    template: async (store) => {
      await store.jobs.enqueue({ queue: "other-0", name: "first", payload: { n: 0 } });
      const first = await claimOnly(store, "other-0", 2 * HOUR);
      const id = await store.jobs.enqueue({
        queue: QUEUE,
        name: "then",
        payload: { n: 0 },
        after: [first.id],
      });
      return { table: "jobs", id };
    },
  },
  {
    // The probe is a new tenant's one job; the table is empty otherwise: what a grouped claim costs.
    name: "empty, probe in a group",
    probeGroup: (round) => `probe-${round}`,
  },
  {
    // Ready jobs in "q" itself, of 10,000 tenants; the probe is a new tenant's one job, which a fair
    // claim takes first.
    name: "ready in q, 10,000 groups",
    template: (store) => grouped(store, "tenant-0"),
    vary: { group_name: "'tenant-' || (g % 10000)" },
    probeGroup: (round) => `probe-${round}`,
    afterCopy: groupRows,
  },
  {
    // Ready jobs in "q" of one large tenant; the probe is a small tenant's one job.
    name: "ready in q, one large group",
    template: (store) => grouped(store, "large"),
    probeGroup: (round) => `probe-${round}`,
    afterCopy: groupRows,
  },
  // A second empty database, timed in the same turns: how far apart two identical shapes come out.
  { name: "empty (control)" },
];
