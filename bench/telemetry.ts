/**
 * npm run bench -- telemetry
 *
 * What OpenTelemetry costs flowstore: the flowstore side of `queue` (bulk enqueue and a drain of
 * no-op jobs with concurrency 8, defaults) and of `durable` (16 workflows in flight, 10 checkpointed
 * steps each), plus one-job enqueues from 8 callers, each run three ways, in a process of its own on a
 * fresh database every time, the order rotating each round:
 *   absent     `@opentelemetry/api` cannot be resolved in the process: the store loads nothing
 *   no-op SDK  the API installed, no SDK registered: every span is the API's non-recording one
 *   exporting  an SDK registered as an application does (async-hooks context manager, W3C
 *              propagator), sampling every span, a batch span processor and a metric reader every
 *              second, whose exporters serialize everything to JSON (an OTLP/JSON exporter's work
 *              short of the network)
 * The ratio is each side's median over the absent side's.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { type BenchContext, benchRounds, CHILD_IMPORTS, log, median, table } from "./lib.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const HIDE = pathToFileURL(path.join(ROOT, "test/fixtures/hide-packages.mjs")).href;
const CHILD = path.join(ROOT, "bench/telemetry/child.ts");
const SIDES = ["absent", "no-op SDK", "exporting"] as const;
type Side = (typeof SIDES)[number];

async function runSide(side: Side, workload: string, url: string, count: number) {
  const args = [...CHILD_IMPORTS, ...(side === "absent" ? ["--import", HIDE] : []), CHILD];
  const mode = side === "no-op SDK" ? "noop" : side;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...args, mode, workload, url, String(count)],
    {
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1) as string) as Record<string, number>;
}

export async function run(context: BenchContext): Promise<void> {
  const rounds = benchRounds(1, 3);
  const workloads = [
    { name: "queue", count: Math.round(50_000 * context.scale) },
    { name: "durable", count: Math.max(16, Math.round(500 * context.scale)) },
  ];
  log(
    `queue: ${workloads[0]?.count} no-op jobs enqueued in batches of 5,000 and drained (concurrency 8), then ` +
      `${Math.round((workloads[0]?.count ?? 0) / 10)} enqueued one per call by 8 callers; durable: ${workloads[1]?.count} ` +
      "workflows of 10 steps, 16 in flight",
  );
  log(
    `${rounds} rounds (BENCH_ROUNDS); each side in its own process on a fresh database, the order rotating`,
  );
  const results = new Map<string, Record<string, number>[]>();
  for (let round = 0; round < rounds; round++) {
    log(`\nround ${round + 1} of ${rounds}`);
    for (const workload of workloads) {
      for (let k = 0; k < SIDES.length; k++) {
        const side = SIDES[(round + k) % SIDES.length] as Side;
        const url = await context.freshDatabase();
        const figures = await runSide(side, workload.name, url, workload.count);
        await context.dropDatabase(url);
        const key = `${workload.name}\u0000${side}`;
        results.set(key, [...(results.get(key) ?? []), figures]);
        const main = workload.name === "queue" ? "drain jobs/s" : "steps/s";
        log(
          `  ${workload.name.padEnd(8)} ${side.padEnd(10)} ${Math.round(figures[main] ?? 0).toLocaleString("en-US")} ${main}`,
        );
      }
    }
  }
  for (const workload of workloads) {
    const medianOf = (side: Side, figure: string) =>
      median((results.get(`${workload.name}\u0000${side}`) ?? []).map((r) => r[figure] ?? Number.NaN));
    const figures = Object.keys(results.get(`${workload.name}\u0000absent`)?.[0] ?? {}).filter(
      (figure) => figure !== "spans exported",
    );
    table(
      `${workload.name}: median of rounds, and as a share of the absent side`,
      SIDES.map((side) => {
        const row: Record<string, string | number> = { side };
        for (const figure of figures) {
          const value = medianOf(side, figure);
          row[figure] = value;
          row[`${figure.split(" ")[0]} ratio`] = value / medianOf("absent", figure);
        }
        row["spans exported"] = medianOf(side, "spans exported");
        return row;
      }),
    );
  }
}
