/**
 * GET /metrics: the store in Prometheus' text format (0.0.4), for a scrape every 15 s or so. Every
 * figure is read from the database at the scrape, by statements that cost the same at a million jobs
 * as at ten (jobs.stats, executions.statusCounts, a capped count of due timers): they are gauges, the
 * same whichever `flowstore serve` is scraped, so aggregate them with max() rather than sum(). The
 * connection pool is this process's own.
 */

import type { QueueTotals, Store } from "../index.js";

/** What a scrape answers with: Prometheus 3 refuses a scrape without a proper Content-Type. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Counts of due timers above this are given as this bound plus one (a capped count). */
const TIMERS_COUNTED_UP_TO = 10_000;

type Labels = Record<string, string>;

/** One metric family: HELP and TYPE, then its samples. */
class Family {
  private readonly samples: string[] = [];

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly type: "gauge" | "counter" | "histogram",
  ) {}

  /** A sample of the family; `suffix` for a histogram's `_bucket`, `_sum` and `_count`. */
  add(value: number, labels: Labels = {}, suffix = ""): this {
    const pairs = Object.entries(labels).map(([key, v]) => `${key}="${escapeLabel(v)}"`);
    const name = `${this.name}${suffix}`;
    this.samples.push(`${name}${pairs.length ? `{${pairs.join(",")}}` : ""} ${formatValue(value)}`);
    return this;
  }

  text(): string {
    return [
      `# HELP ${this.name} ${escapeHelp(this.help)}`,
      `# TYPE ${this.name} ${this.type}`,
      ...this.samples,
    ]
      .map((line) => `${line}\n`)
      .join("");
  }
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function escapeHelp(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

/** Due timers (fire time passed, fired or not yet), counted through the fire-time index up to a bound. */
async function timersDue(store: Store): Promise<number> {
  const { rows } = await store.query<{ n: number }>(
    `select count(*)::int as n from (
       select 1 from "${store.schema}".timers where fire_at <= now() order by fire_at limit $1 + 1) t`,
    [TIMERS_COUNTED_UP_TO],
  );
  return rows[0]?.n ?? 0;
}

/** The exposition: the queue per queue, executions per status, due timers, the pool. */
export async function metricsText(store: Store): Promise<string> {
  const started = performance.now();
  const [queues, executions, due, pauses, totals] = await Promise.all([
    store.jobs.stats(),
    store.executions.statusCounts(),
    timersDue(store),
    store.jobs.paused(),
    store.jobs.totals(),
  ]);
  const estimate = " Exact up to 10,000 per queue, estimated from the planner's statistics above.";
  const waiting = new Family("flowstore_jobs_waiting", `Jobs waiting, due or not.${estimate}`, "gauge");
  const ready = new Family("flowstore_jobs_ready", `Jobs waiting and due now.${estimate}`, "gauge");
  const running = new Family("flowstore_jobs_running", `Jobs running (leased).${estimate}`, "gauge");
  const dead = new Family("flowstore_jobs_dead", `Jobs dead (out of attempts).${estimate}`, "gauge");
  const oldest = new Family(
    "flowstore_jobs_oldest_ready_age_seconds",
    "How long the oldest ready job has waited (0 when none is ready).",
    "gauge",
  );
  const estimated = new Family(
    "flowstore_jobs_estimated",
    "1 when the queue's count is an estimate (more jobs than are counted one by one).",
    "gauge",
  );
  for (const q of queues) {
    const labels = { queue: q.queue };
    waiting.add(q.waiting, labels);
    ready.add(q.ready, labels);
    running.add(q.running, labels);
    dead.add(q.dead, labels);
    oldest.add(q.oldestReadyAgeSeconds ?? 0, labels);
    for (const count of ["waiting", "ready", "running", "dead"] as const) {
      estimated.add(q.estimated.includes(count) ? 1 : 0, { ...labels, count });
    }
  }
  const paused = new Family(
    "flowstore_queue_paused",
    "1 for each paused queue: no claim takes its jobs.",
    "gauge",
  );
  for (const pause of pauses) paused.add(1, { queue: pause.queue });
  const byStatus = new Family(
    "flowstore_executions",
    "Executions per status. Exact up to 10,000 per status, estimated from the planner's statistics above.",
    "gauge",
  );
  for (const [status, { count }] of Object.entries(executions)) byStatus.add(count, { status });
  const timers = new Family(
    "flowstore_timers_due",
    `Timers whose fire time has passed, fired or not yet (counted up to ${TIMERS_COUNTED_UP_TO + 1}).`,
    "gauge",
  );
  timers.add(due);
  const pool = store.connections();
  const connections = new Family(
    "flowstore_pool_connections",
    "This process's connections to the store, by state (open, idle, waiting callers, max).",
    "gauge",
  );
  connections.add(pool.open, { state: "open" });
  connections.add(pool.idle, { state: "idle" });
  connections.add(pool.waiting, { state: "waiting" });
  connections.add(pool.max, { state: "max" });
  const took = new Family(
    "flowstore_metrics_scrape_duration_seconds",
    "How long the store's figures of this scrape took to read.",
    "gauge",
  );
  took.add((performance.now() - started) / 1000);
  return [
    waiting,
    ready,
    running,
    dead,
    oldest,
    estimated,
    paused,
    ...totalsFamilies(totals),
    byStatus,
    timers,
    connections,
    took,
  ]
    .map((family) => family.text())
    .join("");
}

/** What the queues have done since the store began: counters, and the schedule-to-start histogram. */
function totalsFamilies(totals: QueueTotals[]): Family[] {
  const counter = (name: string, help: string, value: (t: QueueTotals) => number) => {
    const family = new Family(`flowstore_jobs_${name}_total`, help, "counter");
    for (const t of totals) family.add(value(t), { queue: t.queue });
    return family;
  };
  const wait = new Family(
    "flowstore_jobs_schedule_to_start_seconds",
    "How long started jobs had waited since they were due (counted as each start is recorded).",
    "histogram",
  );
  for (const t of totals) {
    for (const { le, count } of t.scheduleToStart.buckets) {
      wait.add(count, { queue: t.queue, le: formatValue(le) }, "_bucket");
    }
    wait.add(t.scheduleToStart.sumSeconds, { queue: t.queue }, "_sum");
    wait.add(t.scheduleToStart.count, { queue: t.queue }, "_count");
  }
  const committed = " Counted as it commits.";
  return [
    counter("enqueued", `Jobs enqueued.${committed}`, (t) => t.enqueued),
    counter(
      "started",
      "Job runs started (counted with the start that makes a run an attempt).",
      (t) => t.started,
    ),
    counter("completed", `Jobs completed.${committed}`, (t) => t.completed),
    counter("failed", `Job runs failed, retried or not.${committed}`, (t) => t.failed),
    counter("dead", `Jobs that went dead (out of attempts).${committed}`, (t) => t.dead),
    counter(
      "lease_expired",
      `Jobs taken back after their worker's lease expired.${committed}`,
      (t) => t.leaseExpired,
    ),
    wait,
  ];
}
