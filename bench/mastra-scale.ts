/**
 * Mastra's storage at the sizes its users reach, FlowstoreMastraStorage beside @mastra/pg's
 * PostgresStore on one server in one run, each on a database of its own (pool of 10, durable commits):
 * - recall at a million messages: the message fetch of Mastra's semantic recall (listMessages with
 *   `include`: four hits of a resource, each with two messages before and two after, perPage 0; the
 *   vector search itself is the vector store's) and an agent's read of a thread's last 40 messages,
 *   timed with 10,000 messages stored (10 resources of 10 threads of 100) and again once the tables
 *   hold 1,000,000 (the same shape copied 99 times under other resources): the same calls on the same
 *   threads, so a store whose reads stay with what they ask for takes as long at both sizes
 *   (mastra #11150 reports minutes at a million);
 * - suspend and resume twenty times: a run whose snapshot gains a step's output of 64 kB at each
 *   resume (a document, a model's long answer), each resume a load of the snapshot and a persist of it
 *   with one more entry: the time of the first five against the last five, whole and its load and
 *   persist apart (mastra #17284 reports seconds per resume past twenty).
 * Seeding: the first 10,000 messages through each store's own saveMessages; the copies by SQL on each
 * store's own tables (the same rows under new ids, threads and resources), then ANALYZE, as
 * autovacuum would have run by then.
 * Node.js 22.13 or newer (@mastra/core): bench/run.ts runs it there, like the mastra suite.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { MemoryStorage, WorkflowsStorage } from "@mastra/core/storage";
import type { WorkflowRunState } from "@mastra/core/workflows";
import pg from "pg";
import { type BenchContext, benchRounds, log, median, type Row, table, timedCalls } from "./lib.js";
import { flowstoreSide, mastraPgSide } from "./mastra-sides.js";

const RESOURCES = 10;
const THREADS = 10;
const PER_THREAD = 100;
const COPIES = 99;
const RESUMES = 20;

const sides = [flowstoreSide, mastraPgSide];

const threadOf = (r: number, t: number) => `thread-${r}-${t}`;

/** 10,000 messages through the store's own saveMessages: a thread's 100 in one call. */
async function seedMessages(memory: MemoryStorage): Promise<string[][]> {
  const ids: string[][] = [];
  const base = Date.now() - 86_400_000;
  for (let r = 0; r < RESOURCES; r++) {
    for (let t = 0; t < THREADS; t++) {
      const threadId = threadOf(r, t);
      const now = new Date(base);
      await memory.saveThread({
        thread: { id: threadId, resourceId: `user-${r}`, title: "", createdAt: now, updatedAt: now },
      });
      const messages = Array.from({ length: PER_THREAD }, (_, i) => ({
        id: randomUUID(),
        threadId,
        resourceId: `user-${r}`,
        role: (i % 2 ? "assistant" : "user") as "user",
        createdAt: new Date(base + i * 1000),
        content: {
          format: 2 as const,
          parts: [{ type: "text" as const, text: `message ${i} of ${threadId}: ${"words ".repeat(20)}` }],
          content: `message ${i} of ${threadId}`,
        },
      }));
      await memory.saveMessages({ messages });
      ids.push(messages.map((m) => m.id));
    }
  }
  return ids;
}

/**
 * The store's threads and messages copied `COPIES` times by SQL, under new ids, threads and resources
 * (each column named id, thread_id, resource_id or resourceId gets a suffix), then analyzed.
 */
async function copyMessages(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const tableName of ["mastra_threads", "mastra_messages"]) {
      const { rows } = await client.query<{ name: string }>(
        `select column_name as name from information_schema.columns
          where table_schema = $1 and table_name = $2 order by ordinal_position`,
        [schema, tableName],
      );
      const columns = rows.map((row) => `"${row.name}"`);
      const values = rows.map((row) =>
        ["id", "thread_id", "resource_id", "resourceId"].includes(row.name)
          ? `"${row.name}" || '-' || g`
          : `"${row.name}"`,
      );
      await client.query(
        `insert into "${schema}".${tableName} (${columns.join(", ")})
         select ${values.join(", ")} from "${schema}".${tableName}, generate_series(1, ${COPIES}) g`,
      );
      await client.query(`analyze "${schema}".${tableName}`);
    }
  } finally {
    await client.end();
  }
}

/** The recall fetch and the last-40 read, on the first resources' threads. */
async function timeReads(memory: MemoryStorage, ids: string[][], calls: number) {
  const recall = await timedCalls(calls, 1, async (i) => {
    const r = i % RESOURCES;
    const thread = ids[r * THREADS + (i % THREADS)] as string[];
    const hits = [0, 1, 2, 3].map((k) => {
      const hitThread = (i + k * 3) % THREADS;
      const hitIds = ids[r * THREADS + hitThread] as string[];
      return {
        id: hitIds[(i * 7 + k * 13) % PER_THREAD] as string,
        threadId: threadOf(r, hitThread),
        withPreviousMessages: 2,
        withNextMessages: 2,
      };
    });
    const { messages } = await memory.listMessages({
      threadId: threadOf(r, i % THREADS),
      resourceId: `user-${r}`,
      include: hits,
      perPage: 0,
    });
    if (messages.length < 4 || !thread) throw new Error(`recall fetched ${messages.length}`);
  });
  const last = await timedCalls(calls, 1, async (i) => {
    const r = i % RESOURCES;
    const { messages } = await memory.listMessages({
      threadId: threadOf(r, i % THREADS),
      perPage: 40,
      orderBy: { field: "createdAt", direction: "DESC" },
    });
    if (messages.length !== 40) throw new Error(`listed ${messages.length}`);
  });
  return { recall: recall.p50, last: last.p50 };
}

/**
 * Twenty resumes of a run whose snapshot grows by 64 kB each: ms of each (a load and a persist), and
 * of its load and its persist apart (the load returns the whole snapshot, which grows; the persist
 * writes one entry more).
 */
async function suspendResume(
  workflows: WorkflowsStorage,
): Promise<{ resumes: number[]; loads: number[]; persists: number[] }> {
  const runId = randomUUID();
  const snapshot = {
    runId,
    status: "suspended",
    value: {},
    context: { input: { question: "summarize" } } as Record<string, unknown>,
    serializedStepGraph: [],
    activePaths: [0],
    activeStepsPath: {},
    suspendedPaths: { ask: [0] },
    resumeLabels: {},
    waitingPaths: {},
    timestamp: Date.now(),
  } as unknown as WorkflowRunState;
  await workflows.persistWorkflowSnapshot({ workflowName: "resumed", runId, snapshot });
  const times = { resumes: [] as number[], loads: [] as number[], persists: [] as number[] };
  for (let n = 1; n <= RESUMES; n++) {
    const started = performance.now();
    const loaded = await workflows.loadWorkflowSnapshot({ workflowName: "resumed", runId });
    const read = performance.now();
    if (!loaded || Object.keys(loaded.context).length !== n) throw new Error("resume read a wrong snapshot");
    loaded.context[`step-${n}`] = {
      status: "success",
      output: { text: randomBytes(49_152).toString("base64") },
      startedAt: n,
      endedAt: n,
    } as never;
    const writing = performance.now();
    await workflows.persistWorkflowSnapshot({ workflowName: "resumed", runId, snapshot: loaded });
    const ended = performance.now();
    times.resumes.push(ended - started);
    times.loads.push(read - started);
    times.persists.push(ended - writing);
  }
  return times;
}

export async function run(context: BenchContext): Promise<void> {
  const rounds = benchRounds(1, 1);
  const calls = Math.max(50, Math.round(300 * context.scale));
  const figures = new Map<string, Map<string, number[]>>();
  const note = (op: string, side: string, value: number) => {
    const bySide = figures.get(op) ?? new Map<string, number[]>();
    bySide.set(side, [...(bySide.get(side) ?? []), value]);
    figures.set(op, bySide);
  };
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 ? [...sides].reverse() : sides) {
      const url = await context.freshDatabase();
      log(`round ${r + 1}: ${side.name}`);
      const { storage, close } = await side.open(url);
      try {
        const memory = (await storage.getStore("memory")) as MemoryStorage;
        const workflows = (await storage.getStore("workflows")) as WorkflowsStorage;
        const ids = await seedMessages(memory);
        const small = await timeReads(memory, ids, calls);
        const copied = performance.now();
        await copyMessages(url, side.schema);
        log(`  ${side.name}: 1,000,000 messages in ${Math.round(performance.now() - copied)} ms`);
        const big = await timeReads(memory, ids, calls);
        note("recall fetch at 10,000 messages (ms)", side.name, small.recall);
        note("recall fetch at 1,000,000 messages (ms)", side.name, big.recall);
        note("last 40 of a thread at 10,000 (ms)", side.name, small.last);
        note("last 40 of a thread at 1,000,000 (ms)", side.name, big.last);
        const { resumes, loads, persists } = await suspendResume(workflows);
        note("resumes 1-5, each (ms)", side.name, median(resumes.slice(0, 5)));
        note("resumes 16-20, each (ms)", side.name, median(resumes.slice(-5)));
        note("  their load, 1-5 (ms)", side.name, median(loads.slice(0, 5)));
        note("  their load, 16-20 (ms)", side.name, median(loads.slice(-5)));
        note("  their persist, 1-5 (ms)", side.name, median(persists.slice(0, 5)));
        note("  their persist, 16-20 (ms)", side.name, median(persists.slice(-5)));
      } finally {
        await close();
        await context.dropDatabase(url);
      }
    }
  }
  const rows: Row[] = [...figures].map(([op, bySide]) => {
    const ours = median(bySide.get("flowstore") ?? []);
    const theirs = median(bySide.get("@mastra/pg") ?? []);
    return { operation: op, flowstore: ours, "@mastra/pg": theirs, "@mastra/pg / flowstore": theirs / ours };
  });
  table(`Mastra storage at production sizes, median of ${rounds} round(s) (median call, ms)`, rows);
}
