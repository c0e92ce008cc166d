/**
 * Typed queues as an application meets them (checked by the type-checker, which CI runs): a wrong job
 * name or payload is a compile error at enqueue, on the store and in a transaction; a worker's handler
 * gets a union on the job's name that narrows its payload; `transactional: true` keeps `tx` present;
 * the options of EnqueueJob pass through. Every `@ts-expect-error` line must fail to compile, or tsc
 * fails. The functions below are never called: compiling is the test.
 */
import { describe, expectTypeOf, it } from "vitest";
import {
  defineQueue,
  type EnqueueJob,
  type LeasedJob,
  type Store,
  type Transaction,
  type TypedEnqueueOptions,
  type TypedJob,
  type TypedQueue,
  type WorkingQueue,
} from "../../src/index.js";

interface EmailJobs {
  welcome: { userId: string };
  digest: { day: string; urgent?: boolean };
}

type Tasks = { welcome: { userId: string }; digest: { day: string; urgent?: boolean } };

const emails = defineQueue<EmailJobs>("emails");

describe("typed queue types", () => {
  it("checks the name and the payload at enqueue", () => {
    const send = async (store: Store) => {
      const queue = store.jobs.queue<Tasks>("emails");
      await queue.enqueue("welcome", { userId: "u1" });
      await queue.enqueue("digest", { day: "2026-11-24" }, { priority: 5, key: "digest:2026-11-24" });
      // @ts-expect-error no job of this queue has that name
      await queue.enqueue("welcom", { userId: "u1" });
      // @ts-expect-error a welcome's userId is a string
      await queue.enqueue("welcome", { userId: 1 });
      // @ts-expect-error a welcome's payload is a digest's
      await queue.enqueue("welcome", { day: "2026-11-24" });
      // @ts-expect-error a payload has no fields but its own
      await queue.enqueue("welcome", { userId: "u1", extra: true });
      // @ts-expect-error a welcome needs its payload
      await queue.enqueue("welcome");
      // @ts-expect-error the queue and the name are the typed queue's, not options
      await queue.enqueue("welcome", { userId: "u1" }, { queue: "other" });
      const ids: string[] = await queue.enqueueMany([
        { name: "welcome", payload: { userId: "u1" } },
        { name: "digest", payload: { day: "2026-11-24" }, delayMs: 1_000 },
      ]);
      // @ts-expect-error each job's payload is checked against its name
      await queue.enqueueMany([{ name: "digest", payload: { userId: "u1" } }]);
      // @ts-expect-error no job of this queue has that name
      await queue.enqueueMany([{ name: "other", payload: { userId: "u1" } }]);
      return ids;
    };
    expectTypeOf(send).returns.resolves.toEqualTypeOf<string[]>();
  });

  it("passes every other field of EnqueueJob through as options", () => {
    expectTypeOf<TypedEnqueueOptions>().toEqualTypeOf<Omit<EnqueueJob, "queue" | "name" | "payload">>();
    expectTypeOf<keyof TypedEnqueueOptions>().toEqualTypeOf<
      Exclude<keyof EnqueueJob, "queue" | "name" | "payload">
    >();
  });

  it("takes a definition on the store and in a transaction", () => {
    const send = (store: Store) =>
      store.transaction(async (tx) => {
        const inTx = tx.jobs.queue(emails);
        expectTypeOf(inTx).toEqualTypeOf<TypedQueue<EmailJobs>>();
        // @ts-expect-error enqueue only: a worker starts on the store
        inTx.work({ handler: () => {} });
        await inTx.enqueue("welcome", { userId: "u1" });
        // @ts-expect-error a digest's day is a string
        await inTx.enqueue("digest", { day: 24 });
        expectTypeOf(store.jobs.queue(emails)).toEqualTypeOf<WorkingQueue<EmailJobs, Transaction>>();
        // A typed queue is a definition too.
        return tx.jobs.queue(store.jobs.queue(emails)).enqueue("digest", { day: "2026-11-24" });
      });
    expectTypeOf(send).returns.resolves.toBeString();
  });

  it("gives the handler a union on the name that narrows the payload", () => {
    const start = (store: Store) =>
      store.jobs.queue(emails).work({
        concurrency: 2,
        handler: async (job, { tx }) => {
          expectTypeOf(job.name).toEqualTypeOf<"welcome" | "digest">();
          expectTypeOf(job.id).toBeString();
          expectTypeOf(job.leaseToken).toBeString();
          expectTypeOf(tx).toEqualTypeOf<Transaction | undefined>();
          switch (job.name) {
            case "welcome":
              expectTypeOf(job.payload).toEqualTypeOf<{ userId: string }>();
              // @ts-expect-error a welcome has no day
              return void job.payload.day;
            case "digest":
              expectTypeOf(job.payload).toEqualTypeOf<{ day: string; urgent?: boolean }>();
              return;
            default:
              expectTypeOf(job).toBeNever();
          }
        },
      });
    expectTypeOf(start).returns.toHaveProperty("stop");
    expectTypeOf<TypedJob<EmailJobs>>().toExtend<LeasedJob>();
  });

  it("keeps tx present for a transactional handler", () => {
    const start = (store: Store) =>
      store.jobs.queue<Tasks>("emails").work({
        transactional: true,
        handler: async (job, { tx }) => {
          expectTypeOf(tx).toEqualTypeOf<Transaction>();
          if (job.name === "welcome") await tx.kv.set("welcomed", job.payload.userId, "yes");
        },
      });
    expectTypeOf(start).returns.toHaveProperty("stop");
    const wrong = (store: Store) =>
      store.jobs.queue<Tasks>("emails").work({
        // @ts-expect-error the queue is the typed queue's
        queue: "other",
        handler: () => {},
      });
    expectTypeOf(wrong).returns.toHaveProperty("stop");
  });

  it("types one payload for every name, and lets a nullable payload be left out", () => {
    const use = async (store: Store) => {
      const fetches = store.jobs.queue<Record<string, { url: string }>>("fetch");
      await fetches.enqueue("page", { url: "https://example.com" });
      // @ts-expect-error every job of this queue carries a url
      await fetches.enqueue("page", { href: "https://example.com" });
      fetches.work({
        handler: (job) => {
          expectTypeOf(job.name).toBeString();
          expectTypeOf(job.payload).toEqualTypeOf<{ url: string }>();
        },
      });
      const ticks = store.jobs.queue<{ tick: null; note: string | null }>("ticks");
      await ticks.enqueue("tick");
      await ticks.enqueue("note");
      await ticks.enqueue("note", "hello", { runAt: new Date() });
      await ticks.enqueueMany([{ name: "tick" }, { name: "note", payload: "hi" }]);
      const untyped = store.jobs.queue("any");
      await untyped.enqueue("anything", { at: "all" });
    };
    expectTypeOf(use).returns.resolves.toBeVoid();
  });
});
