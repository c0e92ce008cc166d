/**
 * A worker process given only the primary's address, draining a backlog with a full prefetch, when the
 * primary crashes and its synchronous standby is promoted: the worker cannot reach any database, and a
 * second worker started against the promoted standby drains the queue. Jobs the first worker had
 * prefetched but not started must not start while it cannot record their completion, or each of them
 * runs twice (once there, unrecorded, and again on the new primary once its reservation lapses). The
 * only jobs that may run twice are those the first worker had started before it saw its database go.
 * Each worker records its runs in a file of its own (test/fixtures/worker-run-log.ts), not in the
 * database that is lost. Debian's PostgreSQL (CI installs it); skipped with a note elsewhere. Not on
 * PGlite: an embedded database in the worker's own process has no connection to lose, nor a standby.
 * FLOWSTORE_FAILOVER_JOBS sets the number of jobs (a larger run for the figures in docs/production.md).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/index.js";
import { type SystemPostgres, startStandby, startSystemPostgres } from "../../src/testing/system-postgres.js";
import { fixtureScript } from "../support/fixture-process.js";
import { uniqueSchema } from "../support/harness.js";
import { NODE_FLAGS } from "../support/node-flags.js";
import { systemPostgresFor } from "../support/system-postgres.js";
import { until, warningLogger } from "../support/waiting.js";

const FIXTURE = fixtureScript("worker-run-log.ts");
/** Enough for the first worker's prefetch to have grown to a few hundred jobs before the crash. */
const JOBS = Number(process.env.FLOWSTORE_FAILOVER_JOBS ?? 6_000);
const available = systemPostgresFor("the worker failover test");

const children: ChildProcess[] = [];
const servers: SystemPostgres[] = [];
const logDir = mkdtempSync(path.join(tmpdir(), "flowstore-failover-runs-"));
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  for (const server of servers.reverse()) await server.stop();
  rmSync(logDir, { recursive: true, force: true });
});

/** A worker process writing its runs to `log`; resolves once it says it is working. */
async function startWorker(url: string, schema: string, log: string): Promise<ChildProcess> {
  // leaseMs 5 s: the lost worker's started jobs come back on the new primary 5 s after their mark.
  const child = spawn(process.execPath, [...NODE_FLAGS, FIXTURE, url, schema, log, "8", "5", "5000"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  await new Promise<void>((resolve, reject) => {
    lines.on("line", (line) => line === "ready" && resolve());
    child.once("exit", (code) => reject(new Error(`worker exited with ${code}`)));
  });
  return child;
}

/** A run log's lines, in the order its process appended them. */
const readLog = (log: string): string[] => {
  try {
    return readFileSync(log, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
};
const startsIn = (lines: string[]) =>
  lines.filter((line) => line.startsWith("start ")).map((line) => line.slice(6));

describe.skipIf(!available)("a worker cut off from its database by a failover", () => {
  it("starts none of its prefetched jobs once it has seen the database go: only jobs running then run twice", {
    timeout: 180_000,
  }, async () => {
    const primary = await startSystemPostgres();
    servers.push(primary);
    const url = await primary.createDatabase();
    const database = new URL(url).pathname.slice(1);
    const standby = await startStandby(primary, { synchronous: true });
    servers.push(standby);
    const schema = uniqueSchema("cutoff");
    const setup = await openStore({ connection: url, schema, logger: warningLogger() });
    for (let start = 0; start < JOBS; start += 5_000) {
      const size = Math.min(5_000, JOBS - start);
      await setup.jobs.enqueue(
        Array.from({ length: size }, (_, i) => ({ queue: "q", name: `j${start + i}` })),
      );
    }
    await setup.close();

    const firstLog = path.join(logDir, "first.log");
    const first = await startWorker(url, schema, firstLog);
    // Mid-drain, with the backlog behind it: the worker's prefetch has grown.
    await until(() => startsIn(readLog(firstLog)).length >= JOBS / 4, 60_000);
    await primary.crash();
    await standby.promote();
    // Claimed and not completed, as the new primary has it: the prefetched jobs and those in flight.
    const unfinished = new Set(
      (await standby.query(`select id from "${schema}".jobs where status = 'running'`, database)).map(
        (row) => row.id as string,
      ),
    );

    const secondLog = path.join(logDir, "second.log");
    const second = await startWorker(standby.urlFor(database), schema, secondLog);
    await until(
      async () =>
        (await standby.query(`select count(*)::int as n from "${schema}".jobs`, database))[0]?.n === 0,
      120_000,
    );
    first.kill("SIGKILL");
    second.kill("SIGTERM");
    await new Promise((resolve) => second.once("exit", resolve));

    const firstLines = readLog(firstLog);
    const lostAt = firstLines.indexOf("lost");
    // The worker saw its database go: the bound below is not met by a worker that never noticed.
    expect(lostAt).toBeGreaterThan(0);
    const beforeLoss = firstLines.slice(0, lostAt);
    const startedBeforeLoss = new Set(startsIn(beforeLoss));
    const endedBeforeLoss = new Set(
      beforeLoss.filter((line) => line.startsWith("end ")).map((line) => line.slice(4)),
    );
    const runningAtLoss = [...startedBeforeLoss].filter((id) => !endedBeforeLoss.has(id));
    // Started and not completed at the crash: running, or finished with their completion not recorded.
    const inFlight = new Set([...startedBeforeLoss].filter((id) => unfinished.has(id)));
    const runs = new Map<string, number>();
    for (const id of [...startsIn(firstLines), ...startsIn(readLog(secondLog))]) {
      runs.set(id, (runs.get(id) ?? 0) + 1);
    }
    const twice = [...runs].filter(([, count]) => count > 1).map(([id]) => id);
    console.log(
      `failover of a worker's database: ${JOBS} jobs, ${runs.size} run, ${twice.length} run twice; ` +
        `${inFlight.size} started and not completed at the crash (${runningAtLoss.length} of them ` +
        `running when the first worker saw the database go); ${unfinished.size} held by it on the new ` +
        `primary; ${startsIn(firstLines.slice(lostAt)).length} started by it after`,
    );
    expect(runs.size).toBe(JOBS);
    // Run twice: only jobs the first worker had started, and not completed, before it knew it had lost
    // its database (running then, or finished with their completion not recorded).
    expect(twice.filter((id) => !inFlight.has(id))).toEqual([]);
  });
});
