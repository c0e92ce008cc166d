/** Retention: store.prune() removes finished executions with all they own, in batches, and nothing else. */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type Store, uuidv7, ValidationError } from "../../src/index.js";
import { idAt } from "../partitions/fixtures.js";
import { bulkFill } from "../support/bulk-fill.js";
import { forEachDriver } from "../support/harness.js";
import { rowsOf, seed } from "../support/retention-fixtures.js";
import { finishedExecutions } from "../support/workflow-fixtures.js";

const DAY = 24 * 60 * 60 * 1000;

/** `n` executions that finished 40 days ago, each with one root task, written in two statements. */
async function seedFinished(store: Store, n: number): Promise<void> {
  await finishedExecutions(store, n, 40);
  await bulkFill(store, (tx) =>
    tx.query(
      `insert into ${store.schema}.tasks (task_exec_id, task_id, execution_id, status)
       select gen_random_uuid(), 'root', id, 'completed' from ${store.schema}.executions`,
    ),
  );
}

forEachDriver((driver) => {
  describe("prune", () => {
    it("removes finished executions older than the cut with everything they own, and nothing else", async () => {
      const store = await driver.open();
      const def = await store.definitions.create({ name: "d", definition: {}, status: "active" });
      const oldDone = await seed(store, def.id, "completed", 40);
      const oldFailed = await seed(store, def.id, "failed", 35);
      const recent = await seed(store, def.id, "completed", 1);
      const running = await seed(store, def.id, "running", 0);
      const orphanChunks = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.blob_chunks`,
      );
      const unrelated = await store.blobs.put("unrelated", Buffer.from("stays"));
      await store.kv.set("p", "k", "stays");
      await store.kv.set("p", "expired", "goes", { ttlMs: 60_000 });
      await store.query(
        `update ${store.schema}.kv set expires_at = now() - interval '1 second' where key = 'expired'`,
      );

      const cut = { finishedBefore: new Date(Date.now() - 30 * DAY) };
      // What `flowstore prune --dry-run` reports: the runs prune would take, counted without a write.
      expect(await store.countPrunable(cut)).toBe(2);
      expect(await store.countPrunable({ ...cut, statuses: ["failed"] })).toBe(1);
      const result = await store.prune(cut);
      expect(result).toEqual({
        executions: 2,
        tasks: 6,
        componentState: 2,
        correlations: 2,
        timers: 2,
        jobs: 2,
        jobsHistory: 2,
        deadJobs: 0,
        blobs: 2,
        steps: 4,
        streams: 2,
        kv: 2,
        events: 4,
        signals: 2,
        expiredKv: 1,
        agentSessions: 0,
        mastraRuns: 0,
        passedStreams: 0,
        queues: 0,
        partitions: 0,
        movedExecutions: 0,
        batches: 1,
      });
      for (const id of [oldDone, oldFailed]) {
        expect(Object.values(await rowsOf(store, id)).every((n) => n === 0)).toBe(true);
      }
      for (const id of [recent, running]) {
        expect(await rowsOf(store, id)).toEqual({
          executions: 1,
          tasks: 3,
          componentState: 1,
          correlations: 1,
          events: 2,
          eventHeads: 1,
          signals: 1,
          timers: 1,
          jobs: 1,
          jobsHistory: 1,
          blobs: 1,
          kv: 1,
          chunks: 1,
          steps: 2,
          streams: 1,
          streamChunks: 3,
        });
      }
      // The pruned blobs' chunks went too; other blobs and kv are untouched.
      const chunks = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.blob_chunks`,
      );
      expect(chunks.rows[0]?.n).toBe((orphanChunks.rows[0]?.n ?? 0) - 2 + 1);
      expect((await store.blobs.get("unrelated")).toString()).toBe("stays");
      expect(unrelated.size).toBe(5);
      expect((await store.kv.get("p", "k"))?.value.toString()).toBe("stays");
      // A later cut takes the recent one too; the running one stays.
      expect((await store.prune({ finishedBefore: new Date() })).executions).toBe(1);
      expect((await rowsOf(store, running)).executions).toBe(1);
    });

    it("sweeps completed-job history of no execution older than the cut, and keeps the rest", async () => {
      const store = await driver.open();
      const def = await store.definitions.create({ name: "d", definition: {}, status: "active" });
      const running = await seed(store, def.id, "running", 0);
      await store.jobs.enqueue(Array.from({ length: 5 }, (_, i) => ({ queue: "h", name: `job-${i}` })));
      const claimed = await store.jobs.claim({ queue: "h", workerId: "w", limit: 5 });
      await store.jobs.complete(claimed, { keepCompleted: true });
      const old = claimed.slice(0, 3).map((job) => job.id);
      // A record whose execution is gone (or never was) goes by its own age too.
      await store.query(
        `insert into ${store.schema}.jobs_history (id, queue, name, payload, priority, attempts, execution_id, created_at, completed_at)
         values (gen_random_uuid(), 'h', 'orphan', 'null', 0, 1, gen_random_uuid(), now(), now() - interval '40 days')`,
      );
      await store.query(
        `update ${store.schema}.jobs_history set completed_at = now() - interval '40 days' where id = any($1::uuid[])
            or execution_id = $2`,
        [old, running],
      );
      const history = async () =>
        (
          await store.query<{ id: string }>(
            `select id from ${store.schema}.jobs_history where execution_id is null order by id`,
          )
        ).rows.map((row) => row.id);

      // A prune of failed executions only leaves completed-job history alone.
      await store.prune({ finishedBefore: new Date(Date.now() - 30 * DAY), statuses: ["failed"] });
      expect(await history()).toHaveLength(5);

      const result = await store.prune({ finishedBefore: new Date(Date.now() - 30 * DAY), batchSize: 2 });
      expect(result.jobsHistory).toBe(4);
      expect(await history()).toEqual(
        claimed
          .slice(3)
          .map((job) => job.id)
          .sort(),
      );
      // A running execution's history stays with it, however old.
      expect((await rowsOf(store, running)).jobsHistory).toBe(1);
    });

    it("only prunes the statuses asked for", async () => {
      const store = await driver.open();
      const def = await store.definitions.create({ name: "d", definition: {}, status: "active" });
      const done = await seed(store, def.id, "completed", 10);
      const failed = await seed(store, def.id, "failed", 10);
      const result = await store.prune({ finishedBefore: new Date(), statuses: ["failed"] });
      expect(result.executions).toBe(1);
      expect((await rowsOf(store, done)).executions).toBe(1);
      expect((await rowsOf(store, failed)).executions).toBe(0);
    });

    it("never touches a running tree: neither a finished child of a running parent, nor the parent of a running child", async () => {
      const store = await driver.open();
      const def = await store.definitions.create({ name: "d", definition: {}, status: "active" });
      const runningParent = await seed(store, def.id, "running", 0);
      const finishedChild = await seed(store, def.id, "completed", 50, runningParent);
      const finishedParent = await seed(store, def.id, "completed", 50);
      const runningChild = await seed(store, def.id, "running", 0, finishedParent);
      const result = await store.prune({ finishedBefore: new Date() });
      expect(result.executions).toBe(0);
      for (const id of [runningParent, finishedChild, finishedParent, runningChild]) {
        expect((await rowsOf(store, id)).executions).toBe(1);
      }
      // Once the child finishes, the whole tree can go.
      await store.executions.complete(runningChild);
      expect((await store.prune({ finishedBefore: new Date(Date.now() + 1000) })).executions).toBe(2);
      expect((await rowsOf(store, finishedParent)).executions).toBe(0);
    });

    it("sweeps the streams passed on before the cut, under a UUIDv8 of their time, and no other", async () => {
      const store = await driver.open();
      const old = new Date(Date.now() - 40 * DAY);
      /** An id of `at`'s millisecond of the UUID version `version`, told apart by `n`. */
      const owner = (at: Date, version: number, n: number) =>
        `${idAt(at, n).slice(0, 14)}${version}${idAt(at, n).slice(15)}`;
      // Passed on 40 days ago, by no run: two streams, three chunks, all go.
      const gone = owner(old, 8, 1);
      await store.streams.write(gone, "a", ["x", "y"]);
      await store.streams.write(gone, "b", "z", { close: true });
      // A UUIDv8 as old that a run has (a running one): its stream goes with the run.
      const def = await store.definitions.create({ name: "d", definition: {}, status: "active" });
      const running = owner(old, 8, 2);
      await store.query(
        `insert into ${store.schema}.executions (id, definition_id, name, status) values ($1, $2, 'd', 'running')`,
        [running, def.id],
      );
      await store.streams.write(running, "a", "kept");
      // Passed on now; and streams of no run under other ids of 40 days ago: a UUIDv7, a random UUID.
      await store.streams.write(owner(new Date(), 8, 3), "a", "kept");
      await store.streams.write(owner(old, 7, 4), "a", "kept");
      await store.streams.write(owner(old, 4, 5), "a", "kept");
      await store.streams.write(randomUUID(), "a", "kept");

      const result = await store.prune({ finishedBefore: new Date(Date.now() - 30 * DAY), batchSize: 2 });
      expect(result).toMatchObject({ executions: 0, streams: 0, passedStreams: 2 });
      const { rows } = await store.query<{ id: string; chunks: number }>(
        `select s.execution_id as id, count(c.*)::int as chunks from ${store.schema}.streams s
           left join ${store.schema}.stream_chunks c on c.execution_id = s.execution_id and c.stream = s.name
          group by s.execution_id order by 1`,
      );
      expect(rows.map((row) => row.id)).not.toContain(gone);
      expect(rows).toHaveLength(5);
      expect(rows.every((row) => row.chunks === 1)).toBe(true);
      const { rows: chunks } = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.stream_chunks where execution_id = $1`,
        [gone],
      );
      expect(chunks[0]?.n).toBe(0);
    });

    it("works in batches, each committed before the next starts", async () => {
      const store = await driver.open();
      const n = 250;
      await seedFinished(store, n);
      // A checkpoint, a one-chunk stream and a one-event history each, and a checkpoint and a stream under
      // an id that is no execution.
      const orphan = uuidv7();
      await store.steps.record({ executionId: orphan, number: 0, name: "elsewhere" });
      await store.streams.write(orphan, "s", "stays");
      for (const insert of [
        "steps (execution_id, step_number, name) select id, 0, 'a'",
        "streams (execution_id, name, next_index) select id, 's', 1",
        "stream_chunks (execution_id, stream, chunk_index, data) select id, 's', 0, '\"x\"'",
        "event_heads (execution_id, last_seq) select id, 1",
        "events (execution_id, seq, type) select id, 1, 'done'",
      ]) {
        await store.query(`insert into ${store.schema}.${insert} from ${store.schema}.executions`);
      }
      const seen: number[] = [];
      const result = await store.prune({
        finishedBefore: new Date(Date.now() - DAY),
        batchSize: 100,
        // Runs between batches, outside any transaction: what it sees is committed.
        onProgress: async (progress) => {
          const { rows } = await store.query<{ n: number; events: number; heads: number }>(
            `select (select count(*)::int from ${store.schema}.executions) as n,
                    (select count(*)::int from ${store.schema}.events) as events,
                    (select count(*)::int from ${store.schema}.event_heads) as heads`,
          );
          expect(rows[0]).toEqual({
            n: n - progress.executions,
            events: n - progress.events,
            heads: n - progress.executions,
          });
          seen.push(progress.executions);
        },
      });
      expect(seen).toEqual([100, 200, 250]);
      expect(result).toMatchObject({
        executions: 250,
        tasks: 250,
        steps: 250,
        streams: 250,
        events: 250,
        batches: 3,
      });
      expect(await store.steps.list(orphan)).toHaveLength(1);
      expect(await store.streams.info(orphan, "s")).toEqual({ tailIndex: 0, closed: false });
      const { rows } = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.stream_chunks`,
      );
      expect(rows[0]?.n).toBe(1);
    });

    if (driver.concurrent) {
      it("prunes 100,000 executions holding no lock beyond its batch", { timeout: 120_000 }, async () => {
        const store = await driver.open({ pool: { max: 4 } });
        const n = 100_000;
        const batchSize = 5_000;
        await seedFinished(store, n);
        await store.query(`analyze ${store.schema}.executions`);
        let probes = 0;
        const result = await store.prune({
          finishedBefore: new Date(Date.now() - DAY),
          batchSize,
          // Between batches, another session writes to an execution the prune has not reached yet. Had
          // the prune kept any lock past its batch, the write would wait and fail on lock_timeout.
          onProgress: async (progress) => {
            if (progress.executions >= n) return;
            const updated = await store.transaction(async (tx) => {
              await tx.query("set local lock_timeout = '2s'");
              const { rowCount } = await tx.query(
                `update ${store.schema}.executions set metadata = '{"probe": true}'
                  where id = (select id from ${store.schema}.executions limit 1)`,
              );
              return rowCount;
            });
            expect(updated).toBe(1);
            probes++;
          },
        });
        expect(result).toMatchObject({ executions: n, tasks: n, batches: n / batchSize });
        expect(probes).toBe(n / batchSize - 1);
        const { rows } = await store.query<{ n: number }>(
          `select count(*)::int as n from ${store.schema}.executions`,
        );
        expect(rows[0]?.n).toBe(0);
      });
    }

    it("rejects bad options before deleting anything", async () => {
      const store = await driver.open();
      await expect(store.prune({ finishedBefore: new Date("nope") })).rejects.toBeInstanceOf(ValidationError);
      await expect(
        store.prune({ finishedBefore: new Date(), statuses: ["running" as "completed"] }),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(store.prune({ finishedBefore: new Date(), batchSize: 0 })).rejects.toBeInstanceOf(
        ValidationError,
      );
    });
  });
});
