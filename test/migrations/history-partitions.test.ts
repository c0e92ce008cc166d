/**
 * 0019 partitions the history tables: applied to a schema at version 18 that holds runs with all they
 * own, every row is still there and still read the same, the tables as they were are the first range
 * (attached, not copied), a row whose id is above that range's bound (not a UUIDv7) moved to the
 * default partitions, and the first range is dropped by retention like any other.
 */
import { describe, expect, it } from "vitest";
import { migrationScript, NotFoundError, openStore } from "../../src/index.js";
import { loadMigrations } from "../../src/migrations/runner.js";
import type { HistoryRange } from "../../src/partitions/index.js";
import { forEachDriver, runScript, uniqueSchema } from "../support/harness.js";
import { rowsOf } from "../support/retention-fixtures.js";

/** A run with a task, a component's state, a correlation, two events, a step, a stream and a job record. */
function fill(s: string, id: string, status: string, finished: boolean): string {
  const task = `${id.slice(0, 24)}a${id.slice(25)}`;
  return `
    insert into ${s}.executions (id, name, status, completed_at, created_at)
      values ('${id}', 'order', '${status}', ${finished ? "now() - interval '40 days'" : "null"}, now() - interval '41 days');
    insert into ${s}.tasks (task_exec_id, task_id, execution_id, status) values ('${task}', 'root', '${id}', 'completed');
    insert into ${s}.task_ids (task_exec_id, execution_id) values ('${task}', '${id}');
    insert into ${s}.component_state (execution_id, component_id, state) values ('${id}', 'c', '{"n": 1}');
    insert into ${s}.correlations (key, execution_id) values ('key-${id}', '${id}');
    insert into ${s}.event_heads (execution_id, last_seq) values ('${id}', 2);
    insert into ${s}.events (execution_id, seq, type) values ('${id}', 1, 'started'), ('${id}', 2, 'step');
    insert into ${s}.steps (execution_id, step_number, name, output) values ('${id}', 0, 'validate', '{"ok": true}');
    insert into ${s}.streams (execution_id, name, next_index) values ('${id}', 'tokens', 1);
    insert into ${s}.stream_chunks (execution_id, stream, chunk_index, data) values ('${id}', 'tokens', 0, '"a"');
    insert into ${s}.jobs_history (id, queue, name, payload, priority, attempts, execution_id, created_at)
      values ('${id}', 'q', 'done', 'null', 0, 1, '${id}', now() - interval '41 days');`;
}

forEachDriver((driver) => {
  describe("0019_history_partitions on a schema with data", () => {
    it("keeps every row, attaches the tables as they were as the first range, and prunes it whole", async () => {
      const schema = uniqueSchema("parts");
      const s = `"${schema}"`;
      const connection = await driver.connection();
      await runScript(connection, migrationScript(schema, loadMigrations().slice(0, 18)));
      const done = "0190a000-0000-7000-8000-00000000000a";
      const going = "0190a000-0000-7000-8000-00000000000b";
      // Not a UUIDv7: its first bits, read as a time, are far in the future.
      const odd = "f0e1d2c3-b4a5-4000-8000-00000000000c";
      await runScript(
        connection,
        fill(s, done, "completed", true) + fill(s, going, "running", false) + fill(s, odd, "completed", true),
      );
      const store = await openStore({ connection, schema });
      try {
        expect((await store.migrationStatus()).pending).toBe(0);
        const counts = await Promise.all([done, going, odd].map((id) => rowsOf(store, id)));
        for (const count of counts) {
          expect(count).toMatchObject({
            executions: 1,
            tasks: 1,
            componentState: 1,
            correlations: 1,
            events: 2,
          });
          expect(count).toMatchObject({
            eventHeads: 1,
            steps: 1,
            streams: 1,
            streamChunks: 1,
            jobsHistory: 1,
          });
        }
        const { rows } = await store.query<{ id: string; part: string }>(
          `select e.id, c.relname as part from ${s}.executions e join pg_class c on c.oid = e.tableoid order by e.id`,
        );
        expect(rows).toEqual([
          { id: done, part: "executions_legacy" },
          { id: going, part: "executions_legacy" },
          { id: odd, part: "executions_default" },
        ]);
        // Read and written as before; the foreign keys hold on the partitioned tables.
        expect((await store.events.list(going)).items.map((e) => e.type)).toEqual(["started", "step"]);
        await store.events.append(going, [{ type: "after" }]);
        expect((await store.events.list(going)).items.map((e) => e.sequence)).toEqual([1, 2, 3]);
        expect((await store.steps.list(done)).map((step) => step.name)).toEqual(["validate"]);
        await expect(
          store.events.append("0190a000-0000-7000-8000-0000000000ff", [{ type: "x" }]),
        ).rejects.toBeInstanceOf(NotFoundError);

        // The first range ends tomorrow; a cut after it drops it, the running run moving out.
        const legacy = (await store.listPartitions())[0] as HistoryRange;
        expect(legacy.name).toBe("legacy");
        const result = await store.prune({
          finishedBefore: new Date((legacy.endsAt as Date).getTime() + 1000),
        });
        expect(result).toMatchObject({ partitions: 1, movedExecutions: 1 });
        // The odd run is pruned too, by rows, from the default partitions.
        expect(result.executions).toBe(2);
        expect(Object.values(await rowsOf(store, done)).every((n) => n === 0)).toBe(true);
        expect(Object.values(await rowsOf(store, odd)).every((n) => n === 0)).toBe(true);
        expect(await rowsOf(store, going)).toMatchObject({ executions: 1, tasks: 1, events: 3, steps: 1 });
        expect((await store.listPartitions()).map((range) => range.name)).not.toContain("legacy");
      } finally {
        await store.close();
      }
    });
  });
});
