import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type EnqueueJob, openStore, type StoreOptions, ValidationError } from "../../src/index.js";
import { forEachDriver, uniqueSchema } from "../support/harness.js";

/** Options as JavaScript, or code that builds them at run time, would pass them: unchecked by the compiler. */
const loose = <T>(value: Record<string, unknown>) => value as unknown as T;

/** The ValidationError `call` fails with, whether it throws at once or rejects. */
async function refusal(call: () => unknown): Promise<ValidationError> {
  const error = await (async () => call())().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

const temporary: string[] = [];
afterAll(() => Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true }))));

describe("openStore options", () => {
  it("refuses a misspelt connection before it creates the embedded database's directory", async () => {
    const dir = await mkdtemp(join(tmpdir(), "flowstore-options-"));
    temporary.push(dir);
    const dataDir = join(dir, "data");
    const error = await refusal(() =>
      openStore(loose<StoreOptions>({ conection: "postgres://nobody@127.0.0.1:1/none", dataDir, env: {} })),
    );
    expect(error.message).toBe("unknown option conection (did you mean connection?)");
    expect(error.field).toBe("conection");
    expect(existsSync(dataDir)).toBe(false);
  });

  it("refuses unknown keys in the objects it reads, naming the whole path", async () => {
    const dir = await mkdtemp(join(tmpdir(), "flowstore-options-"));
    temporary.push(dir);
    const dataDir = join(dir, "data");
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ limits: { jsonByte: 10 } }, "unknown option limits.jsonByte (did you mean limits.jsonBytes?)"],
      [{ partitions: { day: 3 } }, "unknown option partitions.day (did you mean partitions.days?)"],
      [
        { telemetry: { queueGauge: false } },
        "unknown option telemetry.queueGauge (did you mean telemetry.queueGauges?)",
      ],
      [
        { logStatements: { value: true } },
        "unknown option logStatements.value (did you mean logStatements.values?)",
      ],
      [{ pool: { maxConnections: 3 } }, "unknown option pool.maxConnections"],
      [{ pool: { mx: 3 } }, "unknown option pool.mx (did you mean pool.max?)"],
      [{ colour: "blue" }, "unknown option colour"],
    ];
    for (const [options, message] of cases) {
      const error = await refusal(() => openStore(loose<StoreOptions>({ dataDir, env: {}, ...options })));
      expect(error.message).toBe(message);
    }
    expect(existsSync(dataDir)).toBe(false);
  });
});

forEachDriver((driver) => {
  describe("options with a key the call does not know", () => {
    it("openStore refuses it before it creates the schema", async () => {
      const store = await driver.open();
      const schema = uniqueSchema("typo");
      const connection = await driver.connection();
      const error = await refusal(() =>
        openStore(loose<StoreOptions>({ connection, schema, migrat: false })),
      );
      expect(error.message).toBe("unknown option migrat (did you mean migrate?)");
      const { rows } = await store.driver.query("select 1 from pg_namespace where nspname = $1", [schema]);
      expect(rows).toEqual([]);
    });

    it("jobs.enqueue refuses it, in a batch too, and enqueues nothing", async () => {
      const store = await driver.open();
      const job = { queue: "typos", name: "send" };
      let error = await refusal(() => store.jobs.enqueue(loose({ ...job, delay: 1000 })));
      expect(error.message).toBe("unknown option job.delay (did you mean job.delayMs?)");
      expect(error.field).toBe("job.delay");
      error = await refusal(() => store.jobs.enqueue([job, loose<EnqueueJob>({ ...job, priorty: 2 })]));
      expect(error.message).toBe("unknown option jobs[1].priorty (did you mean jobs[1].priority?)");
      error = await refusal(() => store.jobs.enqueue(loose({ ...job, backoff: { baseMS: 10 } })));
      expect(error.message).toBe("unknown option job.backoff.baseMS (did you mean job.backoff.baseMs?)");
      expect(await store.jobs.list({ queue: "typos" })).toEqual([]);
    });

    it("jobs.setLimits refuses it and leaves the limits as they were", async () => {
      const store = await driver.open();
      const before = await store.jobs.setLimits("typos", { groupConcurrency: 3 });
      let error = await refusal(() => store.jobs.setLimits("typos", loose({ groupConcurency: 1 })));
      expect(error.message).toBe("unknown option groupConcurency (did you mean groupConcurrency?)");
      error = await refusal(() => store.jobs.setLimits("typos", loose({ rate: { limit: 1, period: 10 } })));
      expect(error.message).toBe("unknown option rate.period (did you mean rate.periodMs?)");
      expect(await store.jobs.limits("typos")).toEqual(before);
    });

    it("jobs.claim, jobs.list and jobs.stats refuse it, and claim leases nothing", async () => {
      const store = await driver.open();
      const id = (await store.jobs.enqueue({ queue: "typos-claim", name: "send" })) as string;
      let error = await refusal(() =>
        store.jobs.claim(loose({ queue: "typos-claim", workerId: "w", limit: 1, leaseMS: 10 })),
      );
      expect(error.message).toBe("unknown option leaseMS (did you mean leaseMs?)");
      expect(await store.jobs.get(id)).toMatchObject({ status: "waiting", attempts: 0 });
      error = await refusal(() => store.jobs.list(loose({ queu: "typos-claim" })));
      expect(error.message).toBe("unknown option queu (did you mean queue?)");
      error = await refusal(() => store.jobs.stats("typos-claim", loose({ exactUpto: 10 })));
      expect(error.message).toBe("unknown option exactUpto (did you mean exactUpTo?)");
    });

    it("jobs.complete, fail, heartbeat and release refuse it and leave the lease as it was", async () => {
      const store = await driver.open();
      await store.jobs.enqueue({ queue: "typos-lease", name: "send" });
      const [lease] = await store.jobs.claim({ queue: "typos-lease", workerId: "w", limit: 1 });
      if (!lease) throw new Error("the job was not claimed");
      const before = await store.jobs.get(lease.id);
      const calls: Array<[() => Promise<unknown>, string]> = [
        [
          () => store.jobs.complete(lease, loose({ keepComplete: true })),
          "unknown option keepComplete (did you mean keepCompleted?)",
        ],
        [
          () => store.jobs.fail(lease, new Error("x"), loose({ retryAT: new Date() })),
          "unknown option retryAT (did you mean retryAt?)",
        ],
        [
          () => store.jobs.heartbeat(lease, loose({ extend: 1000 })),
          "unknown option extend (did you mean extendMs?)",
        ],
        [
          () => store.jobs.release(lease, loose({ countAttempts: true })),
          "unknown option countAttempts (did you mean countAttempt?)",
        ],
      ];
      for (const [call, message] of calls) expect((await refusal(call)).message).toBe(message);
      expect(await store.jobs.get(lease.id)).toEqual(before);
    });

    it("jobs.work refuses it before the worker starts", async () => {
      const store = await driver.open();
      const id = (await store.jobs.enqueue({ queue: "typos-work", name: "send" })) as string;
      const handler = async () => {};
      const error = await refusal(() =>
        store.jobs.work(loose({ queue: "typos-work", handler, concurency: 2 })),
      );
      expect(error.message).toBe("unknown option concurency (did you mean concurrency?)");
      // Refused at once: no worker was made, so none claims the waiting job.
      expect(await store.jobs.get(id)).toMatchObject({ status: "waiting", attempts: 0 });
    });
  });
});
