/** `flowstore prune --older-than 30d`: retention, batch by batch, with a progress bar and a summary. */

import { type Command, Option } from "commander";
import { type ExecutionStatus, type Store, ValidationError } from "../index.js";

import { type CliContext, columns, errorLine, wholeNumber } from "./context.js";
import { progressBar } from "./progress-bar.js";
import { shareIfEmbedded, untilStopped } from "./serve.js";

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "30d", "12h", "90m", "45s", "2w" -> milliseconds. */
export function parseDuration(text: string, option = "older-than"): number {
  const match = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  if (!match) {
    throw new ValidationError(
      `--${option} must be a number and a unit (s, m, h, d, w), like 30d; got ${JSON.stringify(text)}`,
      { field: option },
    );
  }
  // Whole milliseconds: 1.1s is 1100, not 1100.0000000000002.
  return Math.round(Number(match[1]) * (UNITS[match[2] as string] as number));
}

export function registerPruneCommand(program: Command, cli: CliContext): void {
  program
    .command("prune")
    .description(
      "delete executions that finished before a cut, with their tasks, component state, correlations, timers, jobs, blobs, step checkpoints and streams (running trees are never touched), then completed-job history and dead jobs of no execution older than the cut",
    )
    .requiredOption("--older-than <age>", "finished longer ago than this: 30d, 12h, 90m, 2w")
    .addOption(
      new Option("--status <status...>", "only these finished statuses").choices([
        "completed",
        "failed",
        "cancelled",
        "timed_out",
      ]),
    )
    .option("--batch-size <n>", "executions per transaction", wholeNumber(1), 500)
    .option("--dry-run", "only count what would be deleted")
    .option(
      "--every <interval>",
      "keep running, pruning again after each interval (like 1h) until Ctrl-C; a line per run (--json: a JSON object per line)",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  $ flowstore prune --older-than 30d\n  $ flowstore prune --older-than 7d --status failed cancelled --dry-run\n  $ flowstore prune --older-than 30d --every 1h",
    )
    .action((options: PruneCommandOptions) =>
      cli.withStore({ migrate: false, changes: options.dryRun ? undefined : "prune" }, async (store) => {
        if (options.every !== undefined) return pruneEvery(store, cli, options);
        const finishedBefore = new Date(Date.now() - parseDuration(options.olderThan));
        const prune = { finishedBefore, statuses: options.status, batchSize: options.batchSize };
        const total = await store.countPrunable(prune);
        if (options.dryRun) {
          cli.print(
            { finishedBefore, wouldDelete: total },
            () => `${total} execution(s) finished before ${finishedBefore.toISOString()} would be deleted`,
          );
          return;
        }
        const bar = progressBar("prune", total, !cli.options.json && process.stderr.isTTY === true);
        const result = await store.prune({ ...prune, onProgress: (p) => bar.update(p.executions) });
        bar.finish();
        cli.print({ finishedBefore, ...result }, () => {
          const { batches, ...counts } = result;
          return `deleted what finished before ${finishedBefore.toISOString()}, in ${batches} batch(es):\n${columns(
            Object.entries(counts).map(([what, rows]) => ({ what, rows })),
          )}`;
        });
      }),
    );
}

interface PruneCommandOptions {
  olderThan: string;
  status?: ExecutionStatus[];
  batchSize: number;
  dryRun?: boolean;
  every?: string;
}

/** `--every`: store.startMaintenance() until SIGINT or SIGTERM, one line of output per run. */
async function pruneEvery(store: Store, cli: CliContext, options: PruneCommandOptions): Promise<void> {
  if (options.dryRun) {
    throw new ValidationError("--dry-run counts once; it cannot be combined with --every", {
      field: "every",
    });
  }
  const olderThanMs = parseDuration(options.olderThan);
  const intervalMs = parseDuration(options.every as string, "every");
  if (intervalMs < 1 || intervalMs > 24 * 86_400_000) {
    throw new ValidationError(`--every must be from 1ms to 24d; got ${options.every}`, { field: "every" });
  }
  const stopped = untilStopped(); // handles SIGINT and SIGTERM from here on
  // Like serve: while this process holds the embedded store, other commands reach it through here.
  const unshare = await shareIfEmbedded(store);
  try {
    const maintenance = store.startMaintenance({
      olderThanMs,
      intervalMs,
      statuses: options.status,
      batchSize: options.batchSize,
      // The command runs no retention tasks: their (empty) results are left out.
      onRun: ({ finishedBefore, batches, retention: _none, ...counts }) => {
        const removed = Object.entries(counts)
          .filter(([, rows]) => rows > 0)
          .map(([what, rows]) => `${rows} ${what}`);
        process.stdout.write(
          cli.options.json
            ? `${JSON.stringify({ at: new Date(), finishedBefore, batches, ...counts })}\n`
            : `${new Date().toISOString()} pruned what finished before ${finishedBefore.toISOString()}: ${removed.join(", ") || "nothing"}\n`,
        );
      },
      onError: (error) =>
        process.stderr.write(`prune failed, trying again in ${options.every}: ${errorLine(error)}\n`),
    });
    await stopped;
    await maintenance.stop();
  } finally {
    await unshare();
  }
}
