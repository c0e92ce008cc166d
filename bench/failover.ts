/**
 * A failover under load, on Debian's PostgreSQL: a primary and a streaming standby under synchronous
 * replication (synchronous_standby_names = '*', synchronous_commit on), both named in one connection
 * string with target_session_attrs=read-write. Two worker processes run a queue (5 ms handlers, 8 at
 * once each, completed jobs kept in jobs_history) while this process enqueues one job at a time and
 * writes a counter to the key-value space. Then the primary is stopped as a crash would stop it
 * (SIGQUIT, pg_ctl's immediate mode) and the standby promoted (pg_ctl promote); the writes and
 * workers go on, unrestarted, until the queue drains.
 * Reported: acknowledged enqueues and counter writes lost (an enqueue or a write is acknowledged when
 * its promise resolved), jobs in flight at the crash (claimed and unfinished on the promoted server),
 * jobs run twice (and whether each was in flight), and the time from the promotion to the first job a
 * worker started. Skipped where Debian's PostgreSQL is not installed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { ConnectionError, type Logger, openStore } from "../src/index.js";
import { startStandby, startSystemPostgres, systemPostgresBin } from "../src/testing/system-postgres.js";
import { type BenchContext, CHILD_IMPORTS, log, table } from "./lib.js";

const WORKER = fileURLToPath(new URL("./failover/worker.ts", import.meta.url));
const WORKERS = 2;
const BEFORE_CRASH_MS = 3_000;
const AFTER_PROMOTION_MS = 3_000;

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

interface WorkerProcess {
  child: ChildProcess;
  ready: Promise<void>;
}

/** Each "run <id> <ms>" line a worker prints lands in `runs`. */
function startWorker(url: string, schema: string, runs: Map<string, number[]>): WorkerProcess {
  const child = spawn(process.execPath, [...CHILD_IMPORTS, WORKER, url, schema, "8"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => {
    ready = resolve;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    if (line === "ready") ready();
    const [word, id, at] = line.split(" ");
    if (word !== "run" || !id) return;
    const times = runs.get(id) ?? [];
    times.push(Number(at));
    runs.set(id, times);
  });
  return { child, ready: readyPromise };
}

export async function run(_context: BenchContext): Promise<void> {
  if (!systemPostgresBin()) {
    log("failover: skipped: no PostgreSQL from the system's packages (apt-get install postgresql)");
    return;
  }
  const primary = await startSystemPostgres();
  const database = new URL(await primary.createDatabase("failover")).pathname.slice(1);
  const standby = await startStandby(primary, { synchronous: true });
  const url =
    `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/${database}` +
    "?sslmode=disable&target_session_attrs=read-write";
  const schema = "failover";
  const store = await openStore({ connection: url, schema, logger: quiet });
  const runs = new Map<string, number[]>();
  const workers = Array.from({ length: WORKERS }, () => startWorker(url, schema, runs));
  try {
    await Promise.all(workers.map((w) => w.ready));
    log(
      `failover: ${WORKERS} worker processes, enqueues one at a time; synchronous standby; crash after ${BEFORE_CRASH_MS / 1000} s`,
    );

    const acknowledged: string[] = [];
    let refused = 0;
    let lastCount = 0;
    let writing = true;
    const writer = (async () => {
      for (let n = 1; writing; n++) {
        try {
          acknowledged.push(await store.jobs.enqueue({ queue: "failover", name: "job", payload: { n } }));
          await store.kv.set("failover", "count", String(n));
          lastCount = n;
        } catch (error) {
          if (!(error instanceof ConnectionError)) throw error;
          refused++;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    })();

    await new Promise((resolve) => setTimeout(resolve, BEFORE_CRASH_MS));
    const crashedAt = Date.now();
    await primary.crash();
    const enqueuedBeforeCrash = acknowledged.length;
    await standby.promote();
    const promotedAt = Date.now();
    const inFlight = new Set(
      (await standby.query(`select id from ${schema}.jobs where status = 'running'`, database)).map(
        (row) => row.id as string,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, AFTER_PROMOTION_MS));
    writing = false;
    await writer;

    // Drained: every acknowledged job has run and none is left waiting or running.
    for (let waited = 0; ; waited += 100) {
      const left = await standby.query(`select count(*)::int as n from ${schema}.jobs`, database);
      if (left[0]?.n === 0 && acknowledged.every((id) => runs.has(id))) break;
      if (waited > 60_000) throw new Error("the queue did not drain in 60 s after the failover");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const kept = await standby.query(
      `select count(*)::int as n from ${schema}.jobs_history where id = any('{${acknowledged.join(",")}}')`,
      database,
    );
    const stored = await store.kv.get("failover", "count");
    const storedCount = Number(new TextDecoder().decode(stored?.value));
    const twice = [...runs].filter(([, times]) => times.length > 1).map(([id]) => id);
    const firstAfter = Math.min(...[...runs.values()].flat().filter((at) => at > promotedAt));
    table("Failover under load (primary crashed, standby promoted; same processes throughout)", [
      { measure: "enqueues acknowledged", value: acknowledged.length },
      { measure: "  of them before the crash", value: enqueuedBeforeCrash },
      { measure: "  refused during the outage (not acknowledged)", value: refused },
      { measure: "acknowledged enqueues lost", value: acknowledged.length - (kept[0]?.n as number) },
      {
        measure: "acknowledged counter writes lost",
        value: storedCount >= lastCount ? 0 : lastCount - storedCount,
      },
      { measure: "jobs in flight at the crash", value: inFlight.size },
      { measure: "jobs run twice", value: twice.length },
      {
        measure: "  of them not in flight at the crash",
        value: twice.filter((id) => !inFlight.has(id)).length,
      },
      { measure: "ms from the crash to the promotion", value: promotedAt - crashedAt },
      { measure: "ms from the promotion to the first job started", value: firstAfter - promotedAt },
    ]);
  } finally {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null) return resolve();
            w.child.once("exit", () => resolve());
            w.child.kill("SIGTERM");
          }),
      ),
    );
    await store.close();
    await standby.stop();
    await primary.stop();
  }
}
