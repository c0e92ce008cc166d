/**
 * npm run bench -- workflow
 * The benchmark of workflow state: definitions, executions and tasks (bench/state.ts covers actor
 * state, kv and blobs). Our repository calls against the very statements they send, captured through statement
 * logging and sent with raw `pg` and the same values, on the same server in the same run, concurrency 8.
 * Then batches against the same rows written one call at a time.
 */
import pg from "pg";
import { type Logger, openStore, type Store, type TaskRecord, uuidv7 } from "../src/index.js";
import { type BenchContext, log, type Row, sideBySide, table, throughput } from "./lib.js";

const CONCURRENCY = 8;
const BATCH = 100;

/** A store that records each statement it sends, to replay the same text through raw `pg`. */
async function capturingStore(url: string, schema: string) {
  let last: { sql: string; values: unknown[] } | undefined;
  const ignore = () => {};
  const logger: Logger = {
    debug: (entry) => {
      last = { sql: entry.sql as string, values: (entry.values as unknown[]) ?? [] };
    },
    info: ignore,
    warn: ignore,
    error: ignore,
  };
  const store = await openStore({
    connection: url,
    schema,
    migrate: false,
    logStatements: { values: true },
    logger,
  });
  /** The last statement `call` sent, checked against the values the raw side builds for the same input. */
  const statementOf = async (call: (s: Store) => Promise<unknown>, rawValues: unknown[]): Promise<string> => {
    await call(store);
    const sent = last as { sql: string; values: unknown[] };
    if (JSON.stringify(sent.values) !== JSON.stringify(rawValues)) {
      throw new Error(`raw values differ from flowstore's for:\n${sent.sql}`);
    }
    return sent.sql;
  };
  return { store, statementOf };
}

export async function run(context: BenchContext): Promise<void> {
  log("workflow state: definitions, executions, tasks");
  const url = await context.freshDatabase();
  const schema = "bench";
  const store = await openStore({ connection: url, schema, pool: { max: CONCURRENCY } });
  const capture = await capturingStore(url, schema);
  const pool = new pg.Pool({ connectionString: url, max: CONCURRENCY });
  const n = (count: number) => Math.max(CONCURRENCY * 4, Math.round(count * context.scale));
  try {
    const definition = await store.definitions.create({
      name: "bench",
      definition: { steps: 3 },
      status: "active",
    });
    const executions = await store.executions.upsertMany(
      Array.from({ length: 1000 }, () => ({
        id: uuidv7(),
        definitionId: definition.id,
        status: "running" as const,
      })),
    );
    const executionIds = executions.map((e) => e.id);
    const executionAt = (i: number) => executionIds[i % executionIds.length] as string;
    const rows: Row[] = [];

    // executions.update: one field of a running execution.
    const updateValues = (id: string, i: number) => [
      id,
      null,
      null,
      false,
      null,
      false,
      null,
      false,
      null,
      true,
      JSON.stringify({ step: i }),
      null,
      null,
    ];
    const updateSql = await capture.statementOf(
      (s) => s.executions.update(executionAt(0), { state: { step: 0 } }),
      updateValues(executionAt(0), 0),
    );
    rows.push(
      await sideBySide(
        "executions.update",
        n(2000),
        (i) => pool.query(updateSql, updateValues(executionAt(i), i)),
        (i) => store.executions.update(executionAt(i), { state: { step: i } }),
      ),
    );

    // tasks.upsert: a new task of one of the executions.
    const task = (i: number): TaskRecord => ({
      taskExecId: uuidv7(),
      executionId: executionAt(i),
      taskId: `step-${i % 10}`,
      status: "running",
      input: { i },
    });
    const taskValues = (t: TaskRecord) => [
      [t.taskExecId],
      [t.taskId],
      [t.executionId],
      [null],
      [t.status],
      ["basic"],
      [null],
      [null],
      [null],
      [JSON.stringify(t.input)],
      [null],
      [null],
      [1],
      [null],
      [null],
      [null],
    ];
    const sample = task(0);
    const taskSql = await capture.statementOf((s) => s.tasks.upsert(sample), taskValues(sample));
    rows.push(
      await sideBySide(
        "tasks.upsert",
        n(2000),
        (i) => pool.query(taskSql, taskValues(task(i))),
        (i) => store.tasks.upsert(task(i)),
      ),
    );

    // executions.get by id.
    const getSql = await capture.statementOf((s) => s.executions.get(executionAt(0)), [executionAt(0)]);
    rows.push(
      await sideBySide(
        "executions.get",
        n(6000),
        (i) => pool.query(getSql, [executionAt(i * 7)]),
        (i) => store.executions.get(executionAt(i * 7)),
      ),
    );

    // executions.start by name (batched outside a transaction), without and with an idempotency key,
    // against a plain insert of the row.
    let keys = 0;
    const rawStart = (key: string | null) =>
      pool.query(
        `insert into "${schema}".executions (id, definition_id, name, status, input, metadata, idempotency_key)
         values ($1, $2, 'bench', 'pending', $3, '{}', $4) returning id`,
        [uuidv7(), definition.id, JSON.stringify({ n: 1 }), key],
      );
    rows.push(
      await sideBySide(
        "executions.start",
        n(2000),
        () => rawStart(null),
        () => store.executions.start({ name: "bench", input: { n: 1 } }),
      ),
    );
    rows.push(
      await sideBySide(
        "executions.start (idempotency key)",
        n(2000),
        () => rawStart(`raw-${++keys}`),
        () => store.executions.start({ name: "bench", input: { n: 1 }, idempotencyKey: `ours-${++keys}` }),
      ),
    );

    // createChildren of 100 under one of 1,000 parents.
    const parents = await store.tasks.upsertMany(
      executionIds.map((executionId) => ({ executionId, taskId: "fan-out", status: "running" as const })),
    );
    const parentAt = (i: number) => (parents[i % parents.length] as { taskExecId: string }).taskExecId;
    const children = () =>
      Array.from({ length: BATCH }, (_, k) => ({ taskExecId: uuidv7(), taskId: `item-${k}`, input: { k } }));
    const childValues = (parentId: string, list: ReturnType<typeof children>) => [
      parentId,
      list.map((c) => c.taskExecId),
      list.map((c) => c.taskId),
      list.map(() => null),
      list.map(() => "pending"),
      list.map(() => "basic"),
      list.map(() => null),
      list.map(() => null),
      list.map((c) => JSON.stringify(c.input)),
      list.map(() => null),
      list.map(() => null),
      list.map(() => 1),
      list.map(() => null),
      list.map(() => null),
      list.map(() => null),
      // The parent's execution, which a child may name (none does here).
      null,
    ];
    const firstChildren = children();
    const childrenSql = await capture.statementOf(
      (s) => s.tasks.createChildren(parentAt(0), firstChildren),
      childValues(parentAt(0), firstChildren),
    );
    rows.push(
      await sideBySide(
        `tasks.createChildren (${BATCH})`,
        n(150),
        (i) => pool.query(childrenSql, childValues(parentAt(i), children())),
        (i) => store.tasks.createChildren(parentAt(i), children()),
      ),
    );

    // tree of a 10,000-node random tree.
    const root = await buildTree(store, executionAt(0), 10_000);
    // Statistics as autovacuum would have them a minute after this bulk load.
    await store.query(`analyze "${schema}".tasks`);
    const treeSql = await capture.statementOf((s) => s.tasks.tree(root), [root]);
    rows.push(
      await sideBySide(
        "tasks.tree (10,000 nodes)",
        n(12),
        () => pool.query(treeSql, [root]),
        () => store.tasks.tree(root),
      ),
    );
    table("flowstore vs the same statements through raw pg (concurrency 8)", rows);

    const batches: Row[] = [];
    const compare = async (
      name: string,
      batch: (i: number) => Promise<unknown>,
      one: (i: number) => Promise<unknown>,
    ) => {
      const batchRows = (await throughput(n(100), CONCURRENCY, batch)) * BATCH;
      const singleRows = await throughput(n(1500), CONCURRENCY, one);
      batches.push({
        operation: name,
        "batch rows/s": batchRows,
        "one-by-one rows/s": singleRows,
        speedup: batchRows / singleRows,
      });
    };
    await compare(
      `tasks.createChildren(${BATCH}) vs tasks.upsert`,
      (i) => store.tasks.createChildren(parentAt(i), children()),
      (i) => store.tasks.upsert({ ...task(i), parentId: parentAt(i) }),
    );
    await compare(
      `tasks.upsertMany(${BATCH}) vs tasks.upsert`,
      (i) => store.tasks.upsertMany(Array.from({ length: BATCH }, (_, k) => task(i * BATCH + k))),
      (i) => store.tasks.upsert(task(i)),
    );
    const record = () => ({
      id: uuidv7(),
      definitionId: definition.id,
      status: "pending" as const,
      input: { a: 1 },
    });
    await compare(
      `executions.upsertMany(${BATCH}) vs executions.upsert`,
      () => store.executions.upsertMany(Array.from({ length: BATCH }, record)),
      () => store.executions.upsert(record()),
    );
    table(`batches against the same rows one call at a time (concurrency 8, batches of ${BATCH})`, batches);
  } finally {
    await pool.end();
    await capture.store.close();
    await store.close();
  }
}

/** A random tree of `size` tasks under one root (each node's parent picked among earlier nodes). */
async function buildTree(store: Store, executionId: string, size: number): Promise<string> {
  const ids = Array.from({ length: size }, () => uuidv7());
  const records: TaskRecord[] = ids.map((id, i) => ({
    taskExecId: id,
    executionId,
    taskId: `node-${i}`,
    parentId: i === 0 ? null : (ids[Math.floor(Math.random() * i)] as string),
    status: "completed",
    output: { i },
  }));
  for (let i = 0; i < records.length; i += 1000) await store.tasks.upsertMany(records.slice(i, i + 1000));
  return ids[0] as string;
}
