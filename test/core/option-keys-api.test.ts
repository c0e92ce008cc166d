/**
 * Every options object of the public API refuses a key it does not know, naming it and the known key
 * nearest to it, before anything is written: one case per call, each with a misspelt key as
 * JavaScript (or options built at run time) would pass it. The store's tables are compared before
 * and after each refused call. openStore and the queue's calls have their cases in option-keys.test.ts.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreSaver, FlowstoreStore } from "../../src/adapters/langgraph/index.js";
import { createWorld } from "../../src/adapters/workflow/index.js";
import { postgresBlobs } from "../../src/blobs/postgres.js";
import { s3 } from "../../src/blobs/s3.js";
import { nextCronTicks, type Store, ValidationError } from "../../src/index.js";
import { createTestStore, startTestPostgres } from "../../src/testing/index.js";
import { forEachDriver } from "../support/harness.js";

/** Any value, unchecked by the compiler: what JavaScript may pass. */
// biome-ignore lint/suspicious/noExplicitAny: the point is to pass what the types refuse.
type Loose = any;
const loose = (value: unknown): Loose => value;

/** Each table of the store's schema with a digest of its rows, to see that nothing changed. */
async function contents(store: Store): Promise<Record<string, string>> {
  const { rows } = await store.query<{ name: string }>(
    "select tablename as name from pg_tables where schemaname = $1 order by 1",
    [store.schema],
  );
  const digests: Record<string, string> = {};
  for (const { name } of rows) {
    const table = `"${store.schema}"."${name}"`;
    const { rows: digest } = await store.query<{ d: string | null }>(
      `select md5(string_agg(t::text, ',' order by t::text)) as d from ${table} t`,
    );
    digests[name] = digest[0]?.d ?? "empty";
  }
  return digests;
}

interface Seed {
  run: string;
  task: string;
}

/** A refused call: what it does, the message it must fail with. */
type Case = [name: string, call: (store: Store, seed: Seed) => unknown, message: string];

const unknown = (key: string, near?: string) =>
  `unknown option ${key}${near === undefined ? "" : ` (did you mean ${near}?)`}`;

const bytes = new Uint8Array([1, 2, 3]);

const CASES: Case[] = [
  // executions
  [
    "executions.start",
    (s) => s.executions.start(loose({ name: "x", idempotencyKy: "k" })),
    unknown("idempotencyKy", "idempotencyKey"),
  ],
  [
    "executions.start options",
    (s) => s.executions.start({ name: "x" }, loose({ apend: [] })),
    unknown("apend", "append"),
  ],
  [
    "executions.update patch",
    (s, { run }) => s.executions.update(run, loose({ stauts: "running" })),
    unknown("stauts", "status"),
  ],
  [
    "executions.update options",
    (s, { run }) => s.executions.update(run, {}, loose({ expectedVersoin: 1 })),
    unknown("expectedVersoin", "expectedVersion"),
  ],
  [
    "executions.mergeState",
    (s, { run }) => s.executions.mergeState(run, { a: 1 }, loose({ expectedVersoin: 1 })),
    unknown("expectedVersoin", "expectedVersion"),
  ],
  [
    "executions.fork",
    (s, { run }) => s.executions.fork(run, loose({ fromStep: 0, froce: true })),
    unknown("froce", "force"),
  ],
  [
    "executions.rewind",
    (s, { run }) => s.executions.rewind(run, loose({ toStpe: 0 })),
    unknown("toStpe", "toStep"),
  ],
  [
    "executions.upsert",
    (s, { run }) => s.executions.upsert(loose({ id: run, status: "running", nmae: "x" })),
    unknown("nmae", "name"),
  ],
  [
    "executions.upsertMany",
    (s, { run }) =>
      s.executions.upsertMany([
        { id: run, status: "running" },
        loose({ id: run, status: "running", metdata: {} }),
      ]),
    unknown("executions[1].metdata", "executions[1].metadata"),
  ],
  [
    "executions.complete",
    (s, { run }) => s.executions.complete(run, 1, loose({ expectedVerison: 1 })),
    unknown("expectedVerison", "expectedVersion"),
  ],
  [
    "executions.fail",
    (s, { run }) => s.executions.fail(run, "e", loose({ apend: [] })),
    unknown("apend", "append"),
  ],
  [
    "executions.cancel",
    (s, { run }) => s.executions.cancel(run, loose({ cascde: true })),
    unknown("cascde", "cascade"),
  ],
  [
    "executions.list",
    (s) => s.executions.list(loose({ definitionNme: "x" })),
    unknown("definitionNme", "definitionName"),
  ],
  [
    "executions.iterate",
    (s) => s.executions.iterate(loose({ pageSise: 1 })).next(),
    unknown("pageSise", "pageSize"),
  ],
  [
    "executions.countByStatus",
    (s) => s.executions.countByStatus(loose({ status: "running" })),
    unknown("status"),
  ],
  [
    "executions.statusCounts",
    (s) => s.executions.statusCounts(loose({ exactUpto: 1 })),
    unknown("exactUpto", "exactUpTo"),
  ],
  // tasks
  [
    "tasks.create",
    (s, { run }) => s.tasks.create(loose({ taskId: "t2", executionId: run, parnetId: null })),
    unknown("parnetId", "parentId"),
  ],
  [
    "tasks.create options",
    (s, { run }) => s.tasks.create({ taskId: "t2", executionId: run }, loose({ apend: [] })),
    unknown("apend", "append"),
  ],
  [
    "tasks.upsert",
    (s, { run }) => s.tasks.upsert(loose({ taskId: "t2", executionId: run, inptu: 1 })),
    unknown("inptu", "input"),
  ],
  [
    "tasks.upsertMany",
    (s, { run }) =>
      s.tasks.upsertMany([
        { taskId: "a", executionId: run },
        loose({ taskId: "b", executionId: run, agent: "x" }),
      ]),
    unknown("tasks[1].agent", "tasks[1].agentId"),
  ],
  [
    "tasks.update options",
    (s, { task }) => s.tasks.update(task, { attempt: 2 }, loose({ expectedStauts: "running" })),
    unknown("expectedStauts", "expectedStatus"),
  ],
  [
    "tasks.list",
    (s, { run }) => s.tasks.list(loose({ executionID: run })),
    unknown("executionID", "executionId"),
  ],
  [
    "tasks.createChildren",
    (s, { task, run }) => s.tasks.createChildren(task, [loose({ taskId: "c", executionID: run })]),
    unknown("executionID", "executionId"),
  ],
  // definitions, component state, correlations
  [
    "definitions.create",
    (s) => s.definitions.create(loose({ name: "d", definition: {}, stauts: "active" })),
    unknown("stauts", "status"),
  ],
  ["definitions.list", (s) => s.definitions.list(loose({ contain: {} })), unknown("contain", "contains")],
  [
    "componentState.put",
    (s, { run }) => s.componentState.put(run, "c", {}, loose({ expectedVesion: 0 })),
    unknown("expectedVesion", "expectedVersion"),
  ],
  [
    "componentState.delete",
    (s, { run }) => s.componentState.delete(run, "c", loose({ expectedVesion: 1 })),
    unknown("expectedVesion", "expectedVersion"),
  ],
  [
    "correlations.add",
    (s, { run }) => s.correlations.add("k", run, loose({ ttl: 1000 })),
    unknown("ttl", "ttlMs"),
  ],
  // timers
  [
    "timers.schedule",
    (s, { run }) => s.timers.schedule(loose({ executionId: run, name: "t", fireAt: new Date(), quue: "q" })),
    unknown("quue", "queue"),
  ],
  [
    "timers.listAll",
    (s) => s.timers.listAll(loose({ dueBfore: new Date() })),
    unknown("dueBfore", "dueBefore"),
  ],
  [
    "timers.claimDue",
    (s) => s.timers.claimDue(loose({ workerId: "w", leseMs: 10 })),
    unknown("leseMs", "leaseMs"),
  ],
  ["timers.dispatchDue", (s) => s.timers.dispatchDue(loose({ limt: 1 })), unknown("limt", "limit")],
  [
    "timers.startDispatcher",
    (s) => s.timers.startDispatcher(loose({ pollInterval: 10 })),
    unknown("pollInterval", "pollIntervalMs"),
  ],
  // durable state, kv, blobs
  [
    "durableState.write",
    (s) =>
      s.durableState.write(
        loose({ persistenceId: "p", version: 1, payload: bytes, manifest: "m", shrad: 1 }),
      ),
    unknown("shrad", "shard"),
  ],
  ["durableState.list", (s) => s.durableState.list(loose({ shrad: 1 })), unknown("shrad", "shard")],
  ["kv.set", (s) => s.kv.set("p", "k", "v", loose({ ttl: 10 })), unknown("ttl", "ttlMs")],
  ["kv.setIfAbsent", (s) => s.kv.setIfAbsent("p", "k", "v", loose({ ownr: "o" })), unknown("ownr", "owner")],
  [
    "kv.setMany",
    (s) => s.kv.setMany("p", [loose({ key: "k", value: "v", ttl: 10 })]),
    unknown("entries[0].ttl", "entries[0].ttlMs"),
  ],
  ["kv.list", (s) => s.kv.list("p", loose({ startWith: "a" })), unknown("startWith", "startsWith")],
  [
    "kv.listPrefixes",
    (s) => s.kv.listPrefixes(loose({ startWith: "a" })),
    unknown("startWith", "startsWith"),
  ],
  ["kv.sweepExpired", (s) => s.kv.sweepExpired(loose({ batchsize: 1 })), unknown("batchsize", "batchSize")],
  [
    "blobs.put",
    (s) => s.blobs.put("b", bytes, loose({ contentTyp: "text/plain" })),
    unknown("contentTyp", "contentType"),
  ],
  ["blobs.collectGarbage", (s) => s.blobs.collectGarbage(loose({ grace: 1 })), unknown("grace", "graceMs")],
  ["blobs.stream", (s) => s.blobs.stream("b", loose({ begin: 0 })), unknown("begin")],
  ["blobs.list", (s) => s.blobs.list("", loose({ limt: 1 })), unknown("limt", "limit")],
  // events, steps, streams, signals
  [
    "events.append event",
    (s, { run }) => s.events.append(run, loose({ type: "x", correlation: "c" })),
    unknown("events[0].correlation", "events[0].correlationId"),
  ],
  [
    "events.append options",
    (s, { run }) => s.events.append(run, { type: "x" }, loose({ expectedLastSeq: 1 })),
    unknown("expectedLastSeq", "expectedLastSequence"),
  ],
  [
    "events.list",
    (s, { run }) => s.events.list(run, loose({ afterSeq: 1 })),
    unknown("afterSeq", "afterSequence"),
  ],
  [
    "events.iterate",
    (s, { run }) => s.events.iterate(run, loose({ pageSise: 1 })).next(),
    unknown("pageSise", "pageSize"),
  ],
  [
    "events.byCorrelation",
    (s) => s.events.byCorrelation("c", loose({ executionID: null })),
    unknown("executionID", "executionId"),
  ],
  ["events.wait", (s, { run }) => s.events.wait(run, loose({ timeout: 1 })), unknown("timeout", "timeoutMs")],
  [
    "steps.record",
    (s, { run }) => s.steps.record(loose({ executionId: run, number: 0, name: "s", outptu: 1 })),
    unknown("outptu", "output"),
  ],
  ["steps.list", (s, { run }) => s.steps.list(run, loose({ form: 1 })), unknown("form", "from")],
  [
    "streams.write",
    (s, { run }) => s.streams.write(run, "s", "chunk", loose({ closed: true })),
    unknown("closed", "close"),
  ],
  [
    "streams.writeMany",
    (s, { run }) => s.streams.writeMany(run, "s", ["chunk"], loose({ closed: true })),
    unknown("closed", "close"),
  ],
  ["streams.read", (s, { run }) => s.streams.read(run, "s", loose({ form: 0 })), unknown("form", "from")],
  [
    "streams.tail",
    (s, { run }) => s.streams.tail(run, "s", loose({ pollInterval: 1 })),
    unknown("pollInterval", "pollIntervalMs"),
  ],
  [
    "signals.claim",
    (s, { run }) => s.signals.claim("tok", run, loose({ ifheld: "return" })),
    unknown("ifheld", "ifHeld"),
  ],
  [
    "signals.deliver",
    (s) => s.signals.deliver("tok", 1, loose({ ifNotHled: "return" })),
    unknown("ifNotHled", "ifNotHeld"),
  ],
  ["signals.list", (s, { run }) => s.signals.list(run, loose({ limt: 1 })), unknown("limt", "limit")],
  [
    "signals.listAll",
    (s) => s.signals.listAll(loose({ executionID: null })),
    unknown("executionID", "executionId"),
  ],
  [
    "signals.release",
    (s, { run }) => s.signals.release("tok", loose({ execution: run })),
    unknown("execution", "executionId"),
  ],
  // schedules, queue
  [
    "schedules.set",
    (s) => s.schedules.set(loose({ name: "n", cron: "* * * * *", queue: "q", timezone: "UTC" })),
    unknown("timezone", "timeZone"),
  ],
  [
    "schedules.set backoff",
    (s) => s.schedules.set(loose({ name: "n", cron: "* * * * *", queue: "q", backoff: { base: 1 } })),
    unknown("backoff.base", "backoff.baseMs"),
  ],
  ["schedules.dispatchDue", (s) => s.schedules.dispatchDue(loose({ limt: 1 })), unknown("limt", "limit")],
  [
    "schedules.startDispatcher",
    (s) => s.schedules.startDispatcher(loose({ onErorr: () => {} })),
    unknown("onErorr", "onError"),
  ],
  [
    "nextCronTicks",
    () => nextCronTicks("* * * * *", loose({ timezone: "UTC" })),
    unknown("timezone", "timeZone"),
  ],
  ["jobs.pause", (s) => s.jobs.pause("q", loose({ bye: "me" })), unknown("bye", "by")],
  ["jobs.groups", (s) => s.jobs.groups("q", loose({ aftr: "a" })), unknown("aftr", "after")],
  // the store
  [
    "transaction",
    (s) => s.transaction(async (tx) => tx.kv.set("p", "in-tx", "v"), loose({ isolaton: "serializable" })),
    unknown("isolaton", "isolation"),
  ],
  ["migrate", (s) => s.migrate(loose({ progres: () => {} })), unknown("progres", "progress")],
  [
    "prune",
    (s) => s.prune(loose({ finishedBefore: new Date(), statues: ["completed"] })),
    unknown("statues", "statuses"),
  ],
  [
    "countPrunable",
    (s) => s.countPrunable(loose({ finishedBefore: new Date(), batchsize: 1 })),
    unknown("batchsize", "batchSize"),
  ],
  [
    "startMaintenance",
    (s) => s.startMaintenance(loose({ olderThanMs: 0, intervalMS: 10 })),
    unknown("intervalMS", "intervalMs"),
  ],
  // what the other entry points make
  ["postgresBlobs", () => postgresBlobs(loose({ chunk: 10 })), unknown("chunk", "chunkSize")],
  ["s3", () => s3(loose({ bucket: "b", forcePathstyle: true })), unknown("forcePathstyle", "forcePathStyle")],
  ["createTestStore", () => createTestStore(loose({ schma: "x" })), unknown("schma", "schema")],
  ["startTestPostgres", () => startTestPostgres(loose({ prot: 5432 })), unknown("prot", "port")],
  ["FlowstoreSaver", (s) => new FlowstoreSaver(loose({ store: s, scop: "x" })), unknown("scop", "scope")],
  [
    "FlowstoreSaver.prune",
    (s) => new FlowstoreSaver({ store: s }).prune(loose({ keepLast: 1 })),
    unknown("keepLast", "keepLatest"),
  ],
  ["FlowstoreStore", (s) => new FlowstoreStore(loose({ store: s, scop: "x" })), unknown("scop", "scope")],
  [
    "FlowstoreStore index",
    (s) => new FlowstoreStore(loose({ store: s, index: { dims: 3, embed: async () => [], field: ["a"] } })),
    unknown("index.field", "index.fields"),
  ],
  [
    "FlowstoreStore.search",
    (s) => new FlowstoreStore({ store: s }).search(["a"], loose({ query: "q", vectorWieght: 0.5 })),
    unknown("vectorWieght", "vectorWeight"),
  ],
  [
    "createWorld",
    (s) => createWorld(loose({ store: s, storeOption: {} })),
    unknown("storeOption", "storeOptions"),
  ],
  [
    "createWorld hookOwner",
    (s) => createWorld(loose({ store: s, hookOwner: { owner: "o" } })),
    unknown("hookOwner.owner", "hookOwner.ownerId"),
  ],
];

forEachDriver((driver) => {
  describe("every options object of the public API refuses a key it does not know and writes nothing", () => {
    let store: Store;
    let seed: Seed;
    let before: Record<string, string>;
    beforeAll(async () => {
      store = await driver.open();
      const { execution } = await store.executions.start({ name: "seed", status: "running" });
      const task = await store.tasks.create({ taskId: "seed", executionId: execution.id });
      seed = { run: execution.id, task: task.taskExecId };
      before = await contents(store);
    });

    for (const [name, call, message] of CASES) {
      it(name, async () => {
        const outcome = await (async () => call(store, seed))().then(
          () => new Error("accepted"),
          (error: unknown) => error,
        );
        expect(outcome).toBeInstanceOf(ValidationError);
        expect((outcome as ValidationError).message).toBe(message);
        expect(await contents(store)).toEqual(before);
      });
    }
  });
});
