import { describe, expect, it } from "vitest";
import { defineQueue, type TypedJob } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { until } from "../support/waiting.js";

interface EmailJobs {
  welcome: { userId: string };
  digest: { day: string };
  ping: null;
}

const emails = defineQueue<EmailJobs>("emails");

forEachDriver((driver) => {
  describe("typed queues", () => {
    it("enqueues through the queue's own enqueue and hands the worker its jobs by name", async () => {
      const store = await driver.open();
      const queue = store.jobs.queue(emails);
      const welcome = await queue.enqueue("welcome", { userId: "u1" }, { priority: 7, key: "welcome:u1" });
      expect(await queue.enqueue("welcome", { userId: "u1" }, { key: "welcome:u1" })).toBe(welcome);
      const inTx = await store.transaction((tx) => tx.jobs.queue(emails).enqueue("digest", { day: "mon" }));
      const many = await queue.enqueueMany([
        { name: "digest", payload: { day: "tue" } },
        { name: "ping", maxAttempts: 3 },
      ]);
      expect(many).toHaveLength(2);
      expect(await store.jobs.get(welcome)).toMatchObject({
        queue: "emails",
        name: "welcome",
        payload: { userId: "u1" },
        priority: 7,
        key: "welcome:u1",
      });
      expect(await store.jobs.get(inTx)).toMatchObject({ queue: "emails", name: "digest" });
      expect(await store.jobs.get(many[1] as string)).toMatchObject({
        name: "ping",
        payload: null,
        maxAttempts: 3,
      });

      const seen: string[] = [];
      const jobs: TypedJob<EmailJobs>[] = [];
      const worker = queue.work({
        concurrency: 1,
        handler: (job) => {
          jobs.push(job);
          switch (job.name) {
            case "welcome":
              seen.push(`welcome ${job.payload.userId}`);
              break;
            case "digest":
              seen.push(`digest ${job.payload.day}`);
              break;
            case "ping":
              seen.push(`ping ${job.payload}`);
              break;
          }
        },
      });
      await until(() => seen.length === 4);
      await worker.stop();
      expect(seen.sort()).toEqual(["digest mon", "digest tue", "ping null", "welcome u1"]);
      expect(new Set(jobs.map((job) => job.queue))).toEqual(new Set(["emails"]));
      expect(worker.counts).toEqual({ completed: 4, failed: 0 });
    });

    it("runs a transactional handler with its transaction", async () => {
      const store = await driver.open();
      const queue = store.jobs.queue<{ welcome: { userId: string } }>("signups");
      await queue.enqueueMany([
        { name: "welcome", payload: { userId: "u1" } },
        { name: "welcome", payload: { userId: "u2" } },
      ]);
      const worker = queue.work({
        transactional: true,
        handler: async (job, { tx }) => {
          await tx.kv.set("welcomed", job.payload.userId, "yes");
        },
      });
      await until(async () => (await store.kv.list("welcomed")).items.length === 2);
      await worker.stop();
      expect((await store.kv.list("welcomed")).items.map((entry) => entry.key).sort()).toEqual(["u1", "u2"]);
      expect(await store.jobs.list({ queue: "signups" })).toEqual([]);
    });
  });
});
