/**
 * `flowstore jobs groups`, `flowstore jobs limits` and `flowstore jobs forget`: a queue's groups, its
 * limits read or set, and the queue forgotten once it holds no job.
 */

import type { Command } from "commander";
import { ValidationError } from "../core/errors.js";
import type { QueueLimits, QueueLimitsChange } from "../index.js";
import { type CliContext, columns, wholeNumber } from "./context.js";

/** "none" removes a limit; otherwise a whole number. */
function limitValue(text: string, field: string): number | null {
  if (text === "none") return null;
  const n = Number(text);
  if (!Number.isInteger(n)) {
    throw new ValidationError(`--${field} takes a whole number or "none", got ${text}`, { field });
  }
  return n;
}

/** "100/1s", "5/250ms", "60/1m" or "none": jobs per period. */
function rateValue(text: string): { limit: number; periodMs: number } | null {
  if (text === "none") return null;
  const match = /^(\d+)\/(\d+)(ms|s|m|h)$/.exec(text);
  if (!match) {
    throw new ValidationError(
      `--rate takes jobs per period, as 100/1s, 5/250ms or 60/1m, or "none"; got ${text}`,
      {
        field: "rate",
      },
    );
  }
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[3] as "ms" | "s" | "m" | "h"];
  return { limit: Number(match[1]), periodMs: Number(match[2]) * unitMs };
}

interface LimitsOptions {
  groupConcurrency?: string;
  rate?: string;
  group?: string;
  strictOrder?: string;
}

function onOff(value: string, flag: string): boolean {
  if (value === "on" || value === "off") return value === "on";
  throw new ValidationError(`--${flag} must be on or off, got ${value}`, { field: flag });
}

function describeLimits(queue: string, limits: QueueLimits): string {
  const concurrency = limits.groupConcurrency === null ? "none" : String(limits.groupConcurrency);
  const rate = limits.rate === null ? "none" : `${limits.rate.limit} per ${limits.rate.periodMs} ms`;
  const order = limits.strictOrder ? " (strict order: one job per group at a time)" : "";
  return `${queue}: group concurrency ${concurrency}${order}, rate ${rate}`;
}

export function registerJobGroupCommands(jobs: Command, cli: CliContext): void {
  jobs
    .command("groups")
    .description("a queue's job groups, by name: their own limits, ready and running jobs, last served")
    .argument("<queue>", "the queue")
    .option("--limit <n>", "page size", wholeNumber(1), 100)
    .option("--after <name>", "the last name of the previous page")
    .addHelpText("after", "\nExample:\n  $ flowstore jobs groups reports --json")
    .action((queue: string, options: { limit: number; after?: string }) =>
      cli.withStore({ migrate: false }, async (store) => {
        const groups = await store.jobs.groups(queue, { limit: options.limit, after: options.after });
        cli.print(groups, () =>
          columns(
            groups.map((g) => ({
              group: g.name,
              limit: g.concurrency ?? "-",
              ready: g.ready,
              running: g.running,
              "last served": g.servedAt ?? "-",
            })),
            `no groups in ${queue}`,
          ),
        );
      }),
    );

  jobs
    .command("limits")
    .description(
      "a queue's limits: each group's concurrency and the queue's rate; shown, or set with options",
    )
    .argument("<queue>", "the queue")
    .option("--group-concurrency <n>", 'running jobs per group at most, or "none"')
    .option("--rate <jobs/period>", 'jobs claimed per period, as 100/1s or 60/1m, or "none"')
    .option("--group <name>", "set --group-concurrency for this group alone")
    .option(
      "--strict-order <on|off>",
      "each group runs one job at a time, in order, a retry holding the rest",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  $ flowstore jobs limits reports\n  $ flowstore jobs limits reports --group-concurrency 2 --rate 100/1s\n" +
        "  $ flowstore jobs limits reports --group acme --group-concurrency 5\n" +
        "  $ flowstore jobs limits ledger --strict-order on",
    )
    .action((queue: string, options: LimitsOptions) => {
      const changing =
        options.groupConcurrency !== undefined ||
        options.rate !== undefined ||
        options.strictOrder !== undefined;
      const change: QueueLimitsChange = {};
      if (options.strictOrder !== undefined) change.strictOrder = onOff(options.strictOrder, "strict-order");
      if (options.groupConcurrency !== undefined)
        change.groupConcurrency = limitValue(options.groupConcurrency, "group-concurrency");
      if (options.rate !== undefined) change.rate = rateValue(options.rate);
      if (
        options.group !== undefined &&
        (options.rate !== undefined ||
          options.strictOrder !== undefined ||
          options.groupConcurrency === undefined)
      ) {
        throw new ValidationError("--group sets --group-concurrency alone", { field: "group" });
      }
      return cli.withStore(
        changing ? { migrate: false, changes: "jobs limits" } : { migrate: false },
        async (store) => {
          if (options.group !== undefined) {
            const limit = change.groupConcurrency ?? null;
            await store.jobs.setGroupLimit(queue, options.group, limit);
            cli.print({ queue, group: options.group, concurrency: limit }, () =>
              limit === null
                ? `${queue}/${options.group}: the queue's group concurrency applies`
                : `${queue}/${options.group}: at most ${limit} running`,
            );
            return;
          }
          const limits = changing
            ? await store.jobs.setLimits(queue, change)
            : await store.jobs.limits(queue);
          cli.print({ queue, ...limits }, () => describeLimits(queue, limits));
        },
      );
    });

  jobs
    .command("forget")
    .description(
      "forget a queue that holds no job: its counts, limits, pause and groups go, and it leaves stats and /metrics",
    )
    .argument("<queue>", "the queue")
    .addHelpText("after", "\nExample:\n  $ flowstore jobs forget old-imports")
    .action((queue: string) =>
      cli.withStore({ migrate: false, changes: "jobs forget" }, async (store) => {
        const forgotten = await store.jobs.forget(queue);
        cli.print({ queue, forgotten }, () =>
          forgotten ? `forgot ${queue}` : `${queue} was not known: nothing to forget`,
        );
      }),
    );
}
