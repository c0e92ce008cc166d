/**
 * The crash-and-load soak (bench/soak/run.ts, `npm run soak`) in small: two worker processes, 30,000
 * jobs, a SIGKILL every 3 s, three kills at most, the same checks. Enough jobs that the workers live past
 * the RSS check's 15 samples (3 s) and one is killed: a fast machine drains 30,000 in about 5 s. The kills
 * stop after three so that the run ends on the work done: on a slow machine busy with the rest of the
 * suite, a worker killed every few seconds spends most of its life starting, and a drain that goes on
 * killing may not end. Worker processes share the database, so this runs on the real server only
 * (PGlite is single-process).
 */
import { describe, expect, it } from "vitest";
import { formatReport } from "../../bench/soak/report-text.js";
import { runSoak } from "../../bench/soak/run.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";

describe("postgres", () => {
  describe("soak", () => {
    it("kills and replaces workers under load: every job done, duplicates only after a kill, no deadlocks, flat RSS", {
      timeout: 300_000,
    }, async () => {
      const progress: string[] = [];
      const report = await runSoak({
        url: await fileDatabaseUrl(),
        schema: uniqueSchema("soak"),
        jobs: 30_000,
        workers: 2,
        leaseMs: 1_000,
        killEveryMs: 3_000,
        maxKills: 3,
        deadlineMs: 240_000,
        trickle: 50,
        progressEveryMs: 2_000,
        rssEveryMs: 200,
        // Three seconds of samples: the worker the second kill takes lives six.
        rssMinSamples: 15,
        log: (line) => progress.push(line),
      });
      const text = `${progress.join("\n")}\n${formatReport(report)}`;
      expect(report.figures.kills, text).toBeGreaterThanOrEqual(1);
      for (const check of report.checks) expect(check.ok, `${check.name}\n${text}`).toBe(true);
      expect(report.endedBy, text).toBe("drained");
    });
  });
});
