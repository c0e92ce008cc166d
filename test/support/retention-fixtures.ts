/** A run with one of each thing it can own, and a count of each, for the retention tests. */
import type { Store } from "../../src/index.js";

const DAY = 24 * 60 * 60 * 1000;

/**
 * An execution (of id `given`, or a new one) with one of each thing that belongs to it; finished
 * `ageDays` ago when a status is terminal. Its completed-job record has the run's id, so it falls in
 * the run's range of the partitioned tables.
 */
export async function seed(
  store: Store,
  definitionId: string,
  status: string,
  ageDays: number,
  parent?: string,
  given?: string,
): Promise<string> {
  const { execution } = await store.executions.start({
    id: given,
    definitionId,
    status: "running",
    parentExecutionId: parent,
  });
  const id = execution.id;
  const [root] = await store.tasks.upsertMany([{ executionId: id, taskId: "root", status: "running" }]);
  await store.tasks.createChildren(root?.taskExecId as string, [{ taskId: "a" }, { taskId: "b" }]);
  await store.componentState.put(id, "comp", { n: 1 });
  await store.correlations.add(`key-${id}`, id);
  await store.events.append(id, [{ type: "started" }, { type: "step", correlationId: "step-1" }]);
  await store.signals.claim(`signal-${id}`, id);
  await store.timers.schedule({ executionId: id, name: "t", fireAt: new Date(Date.now() + DAY) });
  await store.jobs.enqueue({ queue: "q", name: "step", executionId: id });
  await store.query(
    `insert into ${store.schema}.jobs_history (id, queue, name, payload, priority, attempts, execution_id, created_at)
     values ($1, 'q', 'done', 'null', 0, 1, $1, now())`,
    [id],
  );
  await store.blobs.put(`blob-${id}`, Buffer.from(`content of ${id}`), { executionId: id });
  await store.steps.record({ executionId: id, number: 0, name: "validate", output: { ok: true } });
  await store.steps.record({ executionId: id, number: 1, name: "charge", error: new Error("declined") });
  await store.streams.writeMany(id, "tokens", ["a", "b", "c"], { close: true });
  await store.kv.set("owned", `entry-${id}`, "x", { owner: id.toUpperCase() });
  if (status !== "running") {
    await store.executions.update(id, { status: status as "completed" });
    await store.query(
      `update ${store.schema}.executions set completed_at = now() - $2::int * interval '1 day' where id = $1`,
      [id, ageDays],
    );
  }
  return id;
}

export async function rowsOf(store: Store, id: string): Promise<Record<string, number>> {
  const s = store.schema;
  const { rows } = await store.query<Record<string, number>>(
    `select
       (select count(*)::int from ${s}.executions where id = $1) as executions,
       (select count(*)::int from ${s}.tasks where execution_id = $1) as tasks,
       (select count(*)::int from ${s}.component_state where execution_id = $1) as "componentState",
       (select count(*)::int from ${s}.correlations where execution_id = $1) as correlations,
       (select count(*)::int from ${s}.events where execution_id = $1) as events,
       (select count(*)::int from ${s}.event_heads where execution_id = $1) as "eventHeads",
       (select count(*)::int from ${s}.signals where execution_id = $1) as signals,
       (select count(*)::int from ${s}.timers where execution_id = $1) as timers,
       (select count(*)::int from ${s}.jobs where execution_id = $1) as jobs,
       (select count(*)::int from ${s}.jobs_history where execution_id = $1) as "jobsHistory",
       (select count(*)::int from ${s}.blobs where execution_id = $1) as blobs,
       (select count(*)::int from ${s}.kv where owner = $1::text) as kv,
       (select count(*)::int from ${s}.blob_chunks c join ${s}.blobs b on b.id = c.blob_id
         where b.execution_id = $1) as chunks,
       (select count(*)::int from ${s}.steps where execution_id = $1) as steps,
       (select count(*)::int from ${s}.streams where execution_id = $1) as streams,
       (select count(*)::int from ${s}.stream_chunks where execution_id = $1) as "streamChunks"`,
    [id],
  );
  return rows[0] as Record<string, number>;
}
