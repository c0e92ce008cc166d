/**
 * The soak's report as text (what `npm run soak` prints without --json, and what the test shows when a
 * check fails): figures, a table of the workers, the checks, and the evidence behind a failed check.
 */
import { fmt, mb, signedMb, statusList } from "./format.js";
import type { SoakReport } from "./report.js";

/** The report as text: figures, workers, checks, and the evidence behind any failed check. */
export function formatReport(report: SoakReport): string {
  const f = report.figures;
  const lines = [
    "",
    `soak ${report.ok ? "PASSED" : "FAILED"} (ended: ${report.endedBy})`,
    `  duration            ${(f.durationMs / 1000).toFixed(1)} s (enqueue ${(f.enqueueMs / 1000).toFixed(1)} s, work ${(f.workMs / 1000).toFixed(1)} s)`,
    `  jobs enqueued       ${fmt(f.enqueued)}${f.trickled ? ` (${fmt(f.trickled)} trickled)` : ""}`,
    `  handler runs        ${fmt(f.runs)} over ${fmt(f.jobsRun)} jobs (${fmt(f.jobsPerSecond)} jobs/s)`,
    `  jobs never run      ${fmt(f.jobsNeverRun)}`,
    `  jobs left           ${statusList(f.jobsLeft) || "none"}`,
    `  ran more than once  ${fmt(f.jobsRunMoreThanOnce)} jobs, ${fmt(f.extraRuns)} extra runs; without a kill before: ${fmt(f.duplicatesWithoutKill)}; with an earlier run by a live worker: ${fmt(f.duplicatesWithAnEarlierRunByALiveWorker)}; killed run > leaseMs before the kill: ${fmt(f.duplicatesRunLongBeforeKill)}`,
    `  runs by attempt     ${Object.entries(f.runsByAttempt)
      .map(([attempt, n]) => `${attempt}: ${fmt(n)}`)
      .join(", ")}`,
    `  kills               ${f.kills} (pids ${f.killedPids.join(", ") || "-"}), workers started ${f.workersStarted}`,
    `  deadlocks           ${f.deadlocksBefore} before, ${f.deadlocksAfter} after`,
    `  leases lost (live)  ${fmt(f.leaseLost.jobs)} jobs; the losing worker had run ${fmt(f.leaseLost.ranByTheLosingWorker)}; ran more than once ${fmt(f.leaseLost.ranMoreThanOnce)}`,
    `  lock waits seen     ${f.lockWaits.length ? "" : "none"}`,
    ...f.lockWaits
      .slice(0, 5)
      .map((w) => `    ${w.samples} sample(s): «${w.waiting}» waited for «${w.blocking}»`),
    `  worker errors       ${
      Object.entries(f.workerErrors)
        .map(
          ([kind, e]) =>
            `${kind} ×${fmt(e.count)} (first: ${e.first.slice(0, kind.startsWith("LEASE_LOST") ? 120 : 600)})`,
        )
        .join("; ") || "none"
    }`,
    "",
    "  worker  pid       fate     lived    runs     rss first  middle  last    growth   judged",
  ];
  for (const w of report.workers) {
    const judged = w.rss.eligible;
    const cells = [
      `#${w.serial}`.padEnd(8),
      String(w.pid).padEnd(10),
      w.fate.padEnd(9),
      `${(w.lifetimeMs / 1000).toFixed(0)} s`.padEnd(9),
      fmt(w.runs).padEnd(9),
      mb(w.rss.firstSample).padEnd(11),
      (judged ? mb(w.rss.middleMedian) : "-").padEnd(8),
      (judged ? mb(w.rss.lastMedian) : "-").padEnd(8),
      (judged ? signedMb(w.rss.growth) : "-").padEnd(9),
      judged ? (w.rss.flat ? "flat" : "GREW") : `no (${w.rss.samples} samples)`,
    ];
    lines.push(`  ${cells.join("")}`);
  }
  lines.push("");
  for (const check of report.checks)
    lines.push(`  ${check.ok ? "ok  " : "FAIL"}  ${check.name}: ${check.detail}`);
  const evidence = report.evidence;
  for (const [name, rows] of Object.entries(evidence)) {
    if ((rows as unknown[]).length === 0) continue;
    lines.push("", `  evidence, ${name}:`);
    for (const row of rows as unknown[]) lines.push(`    ${JSON.stringify(row)}`);
  }
  return lines.join("\n");
}
