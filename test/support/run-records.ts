/** A run that recorded steps, events, tasks, streams and tokens in turn, and all it holds, for fork and rewind. */
import type { Store, StoreScope } from "../../src/index.js";

/**
 * A finished run of four steps (0 load, 1 charge, 2 ship, 3 notify; charge recorded after 2 attempts)
 * with, between them, in this order:
 * before step 0: event "started", task "a", chunk "s0" of stream "out";
 * before step 1: event "e1", token "tok-1" claimed and delivered to, chunk "s1";
 * before step 2: task "b" (a child of "a"), event "e2", chunk "s2", stream "late" with "l0", token
 *   "tok-2" claimed and delivered to;
 * before step 3: event "e3", stream "out" closed.
 * Each write is its own transaction (outside `store.transaction`), so several share a clock tick on PGlite.
 */
export async function recordedRun(store: StoreScope, status: "completed" | "running" = "completed") {
  const { execution } = await store.executions.start({
    name: "order",
    input: { order: 7 },
    metadata: { tenant: "t1" },
    status: "running",
  });
  const id = execution.id;
  const step = (number: number, name: string) =>
    store.steps.record({
      executionId: id,
      number,
      name,
      output: { [name]: number },
      ...(name === "charge" ? { attempts: 2 } : {}),
    });
  await store.events.append(id, { type: "started" });
  const a = (await store.tasks.create({ executionId: id, taskId: "a", status: "completed" })).taskExecId;
  await store.streams.write(id, "out", "s0");
  await step(0, "load");
  await store.events.append(id, { type: "e1" });
  await store.signals.claim(`tok-1-${id}`, id);
  await store.signals.deliver(`tok-1-${id}`, { approved: true });
  await store.streams.write(id, "out", "s1");
  await step(1, "charge");
  await store.tasks.create({ executionId: id, taskId: "b", parentId: a });
  await store.events.append(id, { type: "e2" });
  await store.streams.write(id, "out", "s2");
  await store.streams.write(id, "late", "l0");
  await store.signals.claim(`tok-2-${id}`, id);
  await store.signals.deliver(`tok-2-${id}`, { approved: false });
  await step(2, "ship");
  await store.events.append(id, { type: "e3" });
  await store.streams.close(id, "out");
  await step(3, "notify");
  if (status === "completed") await store.executions.complete(id, { done: true });
  return id;
}

/** Everything a run holds, as plain values (tokens read from the table, held live or not). */
export async function holdings(store: Store, id: string) {
  const steps = (await store.steps.list(id)).map((s) => `${s.number}:${s.name}:${JSON.stringify(s.output)}`);
  const events = (await store.events.list(id)).items.map((e) => `${e.sequence}:${e.type}`);
  const listed = (await store.tasks.list({ executionId: id })).items;
  const taskIds = new Map(listed.map((t) => [t.taskExecId, t.taskId]));
  // A child names its parent by the parent's task id, which must be a task of the same run.
  const tasks = listed.map((t) =>
    t.parentId ? `${t.taskId}<${taskIds.get(t.parentId) ?? "elsewhere"}` : t.taskId,
  );
  const streams: Record<string, { chunks: unknown[]; closed: boolean }> = {};
  for (const name of await store.streams.list(id)) {
    const page = await store.streams.read(id, name);
    streams[name] = { chunks: page.chunks.map((c) => c.data), closed: page.closed };
  }
  const { rows } = await store.query<{ token: string }>(
    `select token from "${store.schema}".signals where execution_id = $1 order by token`,
    [id],
  );
  const tokens = rows.map((row) => row.token.slice(0, 5));
  return { steps, events, tasks, streams, tokens };
}

/** Row counts of every table a fork or a rewind writes, to show that a refused call wrote nothing. */
export async function recordCounts(store: Store): Promise<Record<string, number>> {
  const tables = [
    "executions",
    "steps",
    "events",
    "event_heads",
    "tasks",
    "task_ids",
    "streams",
    "stream_chunks",
    "signals",
  ];
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const { rows } = await store.query<{ n: number }>(
      `select count(*)::int as n from "${store.schema}".${table}`,
    );
    counts[table] = rows[0]?.n ?? -1;
  }
  // A rewind that wrote would also have bumped a version or moved a head.
  const { rows } = await store.query<{ v: number; h: number }>(
    `select (select coalesce(sum(version), 0)::int from "${store.schema}".executions) as v,
            (select coalesce(sum(last_seq), 0)::int from "${store.schema}".event_heads) as h`,
  );
  counts.versions = rows[0]?.v ?? -1;
  counts.heads = rows[0]?.h ?? -1;
  return counts;
}
