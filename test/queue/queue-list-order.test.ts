/**
 * jobs.list, behind `flowstore jobs list` and the dashboard's queue pages, lists jobs in creation order
 * (their time, then their id) whatever their ids are: random UUIDs, as callers give them to name a job
 * that others run after, are not in creation order. A page goes on after the last job of the one
 * before, by the same key, so pages neither skip nor repeat a job. On the real server, the index made
 * for that order serves each page: no sort of every job, and no walk past the pages before.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type Job, NotFoundError, type Store } from "../../src/index.js";
import { openRecording } from "../support/explain.js";
import { forEachDriver } from "../support/harness.js";
import { nextMillisecond } from "../support/waiting.js";

/** Enqueues one job a call, each in a later millisecond (PGlite's clock counts whole ones). */
async function enqueueInOrder(store: Store, queues: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, queue] of queues.entries()) {
    await nextMillisecond();
    const id = randomUUID();
    await store.jobs.enqueue({ id, queue, name: `job-${i}` });
    ids.push(id);
  }
  return ids;
}

/** Every page of a list, `limit` jobs at a time, each after the last job of the one before. */
async function pages(store: Store, filter: { queue?: string; limit: number }): Promise<Job[][]> {
  const all: Job[][] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.jobs.list({ ...filter, after });
    if (page.length === 0) return all;
    all.push(page);
    after = page.at(-1)?.id;
  }
}

forEachDriver((driver) => {
  describe("jobs.list order", () => {
    it("lists jobs with random ids in creation order, page after page, each once", async () => {
      const store = await driver.open();
      const queues = Array.from({ length: 13 }, (_, i) => (i % 3 === 0 ? "b" : "a"));
      const ids = await enqueueInOrder(store, queues);
      // Random ids: their order is not the order they were made in (almost surely, and here surely).
      expect([...ids].sort()).not.toEqual(ids);

      const listed = await pages(store, { limit: 4 });
      expect(listed.map((page) => page.length)).toEqual([4, 4, 4, 1]);
      expect(listed.flat().map((job) => job.id)).toEqual(ids);
      const inA = await pages(store, { queue: "a", limit: 3 });
      expect(inA.flat().map((job) => job.id)).toEqual(ids.filter((_, i) => queues[i] === "a"));

      // A job enqueued between pages comes last: no page before it changes, none repeats a job.
      const first = await store.jobs.list({ limit: 5 });
      const [late] = await enqueueInOrder(store, ["a"]);
      const after = await store.jobs.list({ limit: 100, after: first.at(-1)?.id });
      expect([...first, ...after].map((job) => job.id)).toEqual([...ids, late]);
    });

    it("refuses to go on after a job that is gone, whose place went with it", async () => {
      const store = await driver.open();
      const ids = await enqueueInOrder(store, ["q", "q", "q"]);
      await store.jobs.cancel([ids[1] as string]);
      const after = store.jobs.list({ after: ids[1] });
      await expect(after).rejects.toBeInstanceOf(NotFoundError);
      await expect(after).rejects.toThrow(`job ${ids[1]}`);
      expect((await store.jobs.list({ after: ids[0] })).map((job) => job.id)).toEqual([ids[2]]);
      expect(await store.jobs.list({ after: ids[2] })).toEqual([]);
    });

    it.runIf(driver.concurrent)(
      "a page is read from the index of creation order, not sorted from every job",
      async () => {
        const { store, plansOf } = await openRecording(driver, (sql) => /\.jobs\b/.test(sql));
        const s = `"${store.schema}"`;
        await store.query(
          `insert into ${s}.jobs (id, queue, name, created_at)
           select gen_random_uuid(), 'q' || (i % 10), 'x', now() - interval '1 hour' + i * interval '1 ms'
             from generate_series(1, 50000) i`,
        );
        await store.query(`analyze ${s}.jobs`);
        const [middle] = await store
          .query<{ id: string }>(`select id from ${s}.jobs order by created_at, id offset 25000 limit 1`)
          .then((r) => r.rows);
        for (const [call, starts] of [
          [() => store.jobs.list({ limit: 50 }), false],
          // Past the pages before: the index is entered at the page's place, not read from its start.
          [() => store.jobs.list({ limit: 50, after: middle?.id }), true],
        ] as const) {
          for (const plan of await plansOf(call)) {
            const types = plan.nodes.map((n) => n["Node Type"]);
            expect.soft(types, `${plan.kind}: ${plan.shown}`).not.toContain("Sort");
            expect.soft(types, `${plan.kind}: ${plan.shown}`).not.toContain("Seq Scan");
            const created = plan.nodes.find((n) => n["Index Name"] === "jobs_created");
            expect.soft(created, `${plan.kind}: ${plan.shown}`).toBeDefined();
            if (starts)
              expect.soft(created?.["Index Cond"] ?? "", `${plan.kind}: ${plan.shown}`).toMatch(/created_at/);
          }
        }
      },
    );
  });
});
