/**
 * FlowstoreSaver under real concurrency (the server only: PGlite has one connection): puts racing
 * prune and deleteThread on the same threads. Retention walks the thread rows, so a checkpoint left
 * without its thread's row would never be pruned again; none may be, and no call may deadlock.
 */
import type { RunnableConfig } from "@langchain/core/runnables";
import { type Checkpoint, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreSaver } from "../../../src/adapters/langgraph/index.js";
import type { Store } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";
import { until, waitingOnLocks } from "../../support/waiting.js";

const THREADS = 6;
const ROUNDS = 60;

/** Text zlib and pglz cannot shrink, so that storing it takes the server a while. */
const NOISE = Array.from({ length: 60_000 }, () =>
  String.fromCharCode(33 + Math.floor(Math.random() * 90)),
).join("");

/**
 * A checkpoint with a large channel value: storing it keeps a put's statement busy for a while after
 * its thread's row was seen, as a graph's real state does.
 */
const checkpoint = (step: number): Checkpoint => ({
  ...emptyCheckpoint(),
  id: uuid6(-1),
  channel_values: { step, state: `${step}${NOISE}` },
  channel_versions: { step, state: step },
});

/** Rows of the scope's tables (checkpoints, values, task writes) that no thread row covers: what retention could never reach. */
async function orphans(store: Store, scope: string): Promise<number> {
  const q = `"${store.schema}"`;
  const { rows } = await store.query<{ n: number }>(
    `select ((select count(*) from ${q}.langgraph_checkpoints c where c.scope = $1
        and not exists (select 1 from ${q}.langgraph_threads t where t.scope = $1 and t.thread_id = c.thread_id))
      + (select count(*) from ${q}.langgraph_blobs b where b.scope = $1
        and not exists (select 1 from ${q}.langgraph_threads t where t.scope = $1 and t.thread_id = b.thread_id))
      + (select count(*) from ${q}.langgraph_writes w where w.scope = $1
        and not exists (select 1 from ${q}.langgraph_threads t where t.scope = $1 and t.thread_id = w.thread_id))
     )::integer as n`,
    [scope],
  );
  return rows[0]?.n ?? 0;
}

/** Thread rows of the scope with no checkpoint: a put's thread whose checkpoint a delete took anyway. */
async function emptyThreads(store: Store, scope: string): Promise<number> {
  const q = `"${store.schema}"`;
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::integer as n from ${q}.langgraph_threads t where t.scope = $1
      and not exists (select 1 from ${q}.langgraph_checkpoints c where c.scope = $1 and c.thread_id = t.thread_id)`,
    [scope],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Makes every thread of the scope look idle for a day, so that prune({ idleMs }) wants them all. Run
 * while puts are in flight, it stands for puts that outlast idleMs. It locks the rows in id order, as
 * every statement of the saver does.
 */
async function ageThreads(store: Store, scope: string): Promise<void> {
  const q = `"${store.schema}"`;
  await store.query(
    `update ${q}.langgraph_threads set updated_at = now() - interval '1 day'
     where scope = $1 and thread_id in (
       select thread_id from ${q}.langgraph_threads where scope = $1 order by thread_id for update)`,
    [scope],
  );
}

forEachDriver((driver) => {
  describe.skipIf(!driver.concurrent)("FlowstoreSaver under concurrent puts and retention", () => {
    let store: Store;

    beforeAll(async () => {
      store = await driver.open({ pool: { max: 24 } });
    });

    /** Savers of one scope with calls of their own (each combines only its own calls). */
    const savers = (scope: string, count: number) =>
      Array.from({ length: count }, () => new FlowstoreSaver({ store, scope, statementsInFlight: 2 }));

    /**
     * The threads of a round: new ones every few rounds, so that a thread row a racing delete took
     * is not written again by a later round, which would hide the checkpoints it left behind.
     */
    const threadOf = (round: number, t: number) => `e${Math.floor(round / 4)}-t${t}`;

    async function putRound(writers: FlowstoreSaver[], round: number): Promise<void> {
      await Promise.all(
        writers.flatMap((saver, w) =>
          Array.from({ length: THREADS }, async (_, t) => {
            const config: RunnableConfig = {
              configurable: { thread_id: threadOf(round, (t + w) % THREADS) },
            };
            const step = round * 100 + w;
            const written = await saver.put(
              config,
              checkpoint(step),
              { source: "loop", step, parents: {} },
              { step, state: step },
            );
            // A task's writes to the checkpoint, as the graph's next step makes them.
            await saver.putWrites(written, [["state", step]], `task-${step}`);
          }),
        ),
      );
    }

    /**
     * Writers put on every thread, round after round, while `racer` runs again and again until they are
     * done; every call must succeed (no deadlock, no lost put).
     */
    async function race(
      scope: string,
      racer: (saver: FlowstoreSaver, round: number) => Promise<unknown>,
    ): Promise<void> {
      const writers = savers(scope, 4);
      const [other] = savers(scope, 1) as [FlowstoreSaver];
      await putRound(writers, 0);
      let writing = true;
      let round = 0;
      const racing = (async () => {
        while (writing) await racer(other, round);
      })();
      racing.catch(() => {}); // awaited below, once the writers are done
      try {
        for (round = 1; round <= ROUNDS; round++) await putRound(writers, round);
      } finally {
        writing = false;
        await racing;
      }
    }

    it("leaves no checkpoint without its thread when puts race prune on the same threads", async () => {
      const scope = "race-prune";
      await race(scope, async (pruner) => {
        await ageThreads(store, scope);
        await Promise.all([
          pruner.prune({ idleMs: 0, batchSize: 2 }),
          pruner.prune({ idleMs: 0 }),
          pruner.prune({ keepLatest: 1, batchSize: 1 }),
        ]);
      });
      expect(await orphans(store, scope)).toBe(0);
    });

    it("has a put take its thread's row before it writes anything else", async () => {
      const [saver] = savers("lock-order", 1) as [FlowstoreSaver];
      const config = { configurable: { thread_id: "t" } };
      const first = await saver.put(
        config,
        checkpoint(1),
        { source: "loop", step: 1, parents: {} },
        { step: 1 },
      );
      const q = `"${store.schema}"`;
      const next = checkpoint(2);
      let put: Promise<unknown> | undefined;
      let written = false;
      await store.transaction(async (tx) => {
        await tx.query(`select 1 from ${q}.langgraph_threads where scope = 'lock-order' for update`);
        put = saver
          .put(first, next, { source: "loop", step: 2, parents: {} }, { step: 2, state: 2 })
          .then(() => {
            written = true;
          });
        await until(async () => written || (await waitingOnLocks(store)) > 0);
        expect(written, "a put waits for its thread's row").toBe(false);
        // Rows the waiting put had written would hold up these inserts of the same keys (until
        // lock_timeout); they go through, and are rolled back.
        const rollBack = new Error("roll the probe back");
        const probe = store.transaction(async (other) => {
          await other.query("set local lock_timeout = '2s'");
          await other.query(
            `insert into ${q}.langgraph_checkpoints (scope, thread_id, checkpoint_ns, checkpoint_id, checkpoint, metadata)
             values ('lock-order', 't', '', $1, '{}', '{}')`,
            [next.id],
          );
          await other.query(
            `insert into ${q}.langgraph_blobs (scope, thread_id, checkpoint_ns, channel, version, type, blob)
             values ('lock-order', 't', '', 'state', '2', 'json', '\\x00')`,
          );
          throw rollBack;
        });
        await expect(probe).rejects.toBe(rollBack);
      });
      await put;
      expect((await saver.getTuple(config))?.checkpoint.channel_values.step).toBe(2);
    });

    it("leaves no checkpoint without its thread when puts race deleteThread", async () => {
      await race("race-delete", (deleter, round) =>
        Promise.all(Array.from({ length: THREADS }, (_, t) => deleter.deleteThread(threadOf(round, t)))),
      );
      expect(await orphans(store, "race-delete")).toBe(0);
    });

    // A graph's task writes its checkpoint's pending writes after the put: a delete may land between.
    it("stores no task writes of a deleted thread, and leaves no thread row for them", async () => {
      const scope = "writes-after-delete";
      const [saver] = savers(scope, 1) as [FlowstoreSaver];
      const put = await saver.put(
        { configurable: { thread_id: "t" } },
        checkpoint(1),
        { source: "loop", step: 1, parents: {} },
        { step: 1, state: 1 },
      );
      await saver.deleteThread("t");
      await saver.putWrites(put, [["state", 2]], "task-late");
      expect(await emptyThreads(store, scope)).toBe(0);
      expect(await orphans(store, scope)).toBe(0);
      const q = `"${store.schema}"`;
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::integer as n from ${q}.langgraph_writes where scope = $1`,
        [scope],
      );
      expect(rows[0]?.n).toBe(0);
      expect(await saver.getTuple({ configurable: { thread_id: "t" } })).toBeUndefined();
    });

    it("leaves a thread made while clear waited for its locks, with its checkpoint", async () => {
      const scope = "clear-waits";
      const [saver] = savers(scope, 1) as [FlowstoreSaver];
      const put = (thread: string, step: number) =>
        saver.put(
          { configurable: { thread_id: thread } },
          checkpoint(step),
          { source: "loop", step, parents: {} },
          { step, state: step },
        );
      await put("a", 1);
      const q = `"${store.schema}"`;
      let clearing: Promise<void> | undefined;
      await store.transaction(async (tx) => {
        await tx.query(`select 1 from ${q}.langgraph_threads where scope = $1 for update`, [scope]);
        clearing = saver.clear();
        await until(async () => (await waitingOnLocks(store)) > 0);
        // A thread clear's lock statement began too early to see: made and committed while it waits.
        await put("b", 2);
      });
      await clearing;
      expect(await orphans(store, scope)).toBe(0);
      expect(await emptyThreads(store, scope)).toBe(0);
      const left = await saver.getTuple({ configurable: { thread_id: "b" } });
      expect(left?.checkpoint.channel_values.step).toBe(2);
      expect(await saver.getTuple({ configurable: { thread_id: "a" } })).toBeUndefined();
    });

    it("deletes a thread with all its rows or leaves both when puts race clear", async () => {
      await race("race-clear", (clearer) => clearer.clear());
      expect(await orphans(store, "race-clear")).toBe(0);
      expect(await emptyThreads(store, "race-clear")).toBe(0);
    });
  });
});
