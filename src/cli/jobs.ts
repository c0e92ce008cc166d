/** `flowstore jobs ...` and `flowstore timers ...`. */

import { type Command, Option } from "commander";
import { isUuid, type JobStatus, NotFoundError, type Store, ValidationError } from "../index.js";
import { type CliContext, columns, wholeNumber } from "./context.js";
import { registerJobGroupCommands } from "./job-groups.js";

export function registerJobCommands(program: Command, cli: CliContext): void {
  const jobs = program
    .command("jobs")
    .description(
      "the job queue: stats, list, retry dead jobs, cancel, pause and resume a queue, groups and limits",
    )
    .addHelpText("after", "\nExample:\n  $ flowstore jobs stats");

  jobs
    .command("stats")
    .description("jobs per queue, idle queues too: waiting, ready, running, dead, oldest ready age")
    .argument("[queue]", "one queue only")
    .addHelpText("after", "\nExample:\n  $ flowstore jobs stats --json")
    .action((queue?: string) =>
      cli.withStore({ migrate: false }, async (store) => {
        const stats = await store.jobs.stats(queue);
        cli.print(stats, () =>
          columns(
            stats.map((s) => ({
              queue: s.queue,
              // An estimate (more jobs than are counted one by one) is shown as ~n.
              ...Object.fromEntries(
                (["waiting", "ready", "running", "dead"] as const).map((field) => [
                  field,
                  s.estimated.includes(field) ? `~${s[field]}` : s[field],
                ]),
              ),
              "oldest ready":
                s.oldestReadyAgeSeconds === null ? "-" : `${s.oldestReadyAgeSeconds.toFixed(1)} s`,
              paused: s.paused ? "paused" : "",
            })),
            "no queues",
          ),
        );
      }),
    );

  jobs
    .command("list")
    .description("jobs in creation order, a page at a time")
    .option("--queue <queue>", "one queue only")
    .addOption(
      new Option("--status <status>", "waiting, running or dead").choices(["waiting", "running", "dead"]),
    )
    .option("--limit <n>", "page size", wholeNumber(1), 50)
    .option("--after <id>", "the last id of the previous page")
    .addHelpText("after", "\nExample:\n  $ flowstore jobs list --status dead --queue email")
    .action((options: { queue?: string; status?: JobStatus; limit: number; after?: string }) =>
      cli.withStore({ migrate: false }, async (store) => {
        const list = await store.jobs.list({
          queue: options.queue,
          status: options.status,
          limit: options.limit,
          after: options.after,
        });
        cli.print(list, () =>
          columns(
            list.map((j) => ({
              id: j.id,
              queue: j.queue,
              name: j.name,
              status: j.status,
              attempts: `${j.attempts}/${j.maxAttempts}`,
              "run at": j.runAt,
              // Enqueues the job took in (debounce, throttle, a key replaced): blank when none.
              absorbed: j.absorbed || null,
              // Jobs it runs after that have not completed yet (enqueue's `after`): blank when none.
              "waits for": j.waitingFor || null,
              error: j.lastError?.message?.slice(0, 60) ?? null,
            })),
            "no jobs",
          ),
        );
      }),
    );

  jobs
    .command("retry")
    .description("put dead jobs back in their queue")
    .argument("<ids...>", "job ids")
    .addHelpText("after", "\nExample:\n  $ flowstore jobs retry 0192f0c4-...")
    .action((ids: string[]) =>
      cli.withStore({ migrate: false, changes: "jobs retry" }, async (store) => {
        const revived = await store.jobs.retry(jobIds(ids, "retried"));
        const notRetried = await notDone(store, ids, revived, (status) =>
          status === "dead" ? "dead, and not retried" : `${status}, not dead (only a dead job is retried)`,
        );
        cli.print({ retried: revived, notRetried }, () =>
          outcome(`retried ${revived.length} of ${ids.length} job(s)`, notRetried),
        );
        if (notRetried.length) process.exitCode = 1;
      }),
    );

  jobs
    .command("cancel")
    .description("remove jobs, whatever their state")
    .argument("<ids...>", "job ids")
    .addHelpText("after", "\nExample:\n  $ flowstore jobs cancel 0192f0c4-...")
    .action((ids: string[]) =>
      cli.withStore({ migrate: false, changes: "jobs cancel" }, async (store) => {
        const cancelled = await store.jobs.cancel(jobIds(ids, "cancelled"));
        const notCancelled = await notDone(store, ids, cancelled, (status) => `${status}, and not cancelled`);
        cli.print({ cancelled, notCancelled }, () =>
          outcome(`cancelled ${cancelled.length} of ${ids.length} job(s)`, notCancelled),
        );
        if (notCancelled.length) process.exitCode = 1;
      }),
    );

  jobs
    .command("pause")
    .description("stop claims of a queue until it is resumed: its jobs wait, new ones still go in")
    .argument("<queue>", "the queue")
    .option("--by <who>", "who paused it, kept beside the pause", "flowstore command")
    .addHelpText("after", "\nExample:\n  $ flowstore jobs pause email --by alice")
    .action((queue: string, options: { by: string }) =>
      cli.withStore({ migrate: false, changes: "jobs pause" }, async (store) => {
        const paused = await store.jobs.pause(queue, { by: options.by });
        cli.print({ queue, paused }, () => (paused ? `paused ${queue}` : `${queue} was paused already`));
      }),
    );

  jobs
    .command("resume")
    .description("let workers claim a paused queue's jobs again")
    .argument("<queue>", "the queue")
    .addHelpText("after", "\nExample:\n  $ flowstore jobs resume email")
    .action((queue: string) =>
      cli.withStore({ migrate: false, changes: "jobs resume" }, async (store) => {
        const resumed = await store.jobs.resume(queue);
        cli.print({ queue, resumed }, () => (resumed ? `resumed ${queue}` : `${queue} was not paused`));
      }),
    );

  jobs
    .command("paused")
    .description("the paused queues, with when and by whom")
    .addHelpText("after", "\nExample:\n  $ flowstore jobs paused --json")
    .action(() =>
      cli.withStore({ migrate: false }, async (store) => {
        const paused = await store.jobs.paused();
        cli.print(paused, () =>
          columns(
            paused.map((p) => ({ queue: p.queue, since: p.pausedAt, by: p.pausedBy })),
            "no queue is paused",
          ),
        );
      }),
    );

  registerJobGroupCommands(jobs, cli);

  const timers = program
    .command("timers")
    .description("durable timers")
    .addHelpText("after", "\nExample:\n  $ flowstore timers list --limit 10");
  timers
    .command("list")
    .description("timers, soonest first")
    .option("--execution <id>", "one execution's timers")
    .option("--limit <n>", "how many", wholeNumber(1), 50)
    .addHelpText("after", "\nExample:\n  $ flowstore timers list --json")
    .action((options: { execution?: string; limit: number }) =>
      cli.withStore({ migrate: false }, async (store) => {
        const list = options.execution
          ? await store.timers.list(options.execution)
          : await store.timers.listAll({ limit: options.limit });
        cli.print(list, () =>
          columns(
            list.map((t) => ({
              name: t.name,
              execution: t.executionId,
              "fire at": t.fireAt,
              queue: t.queue,
            })),
            "no timers",
          ),
        );
      }),
    );
}

/**
 * The ids a command was given, each a UUID: a word is refused in the command's terms, naming it,
 * before anything is done (the API's own refusal names its parameter, which the command has none of).
 */
function jobIds(ids: string[], done: string): string[] {
  const bad = ids.find((id) => !isUuid(id));
  if (bad !== undefined) {
    throw new ValidationError(
      `${JSON.stringify(bad)} is not a job id (a UUID, as flowstore jobs list shows them): nothing was ${done}`,
      { field: "ids" },
    );
  }
  return ids;
}

/** Each of `ids` not among `done`, with why: the job's status as `why` words it, or that there is none. */
async function notDone(
  store: Store,
  ids: string[],
  done: string[],
  why: (status: JobStatus) => string,
): Promise<Array<{ id: string; reason: string }>> {
  const left = [...new Set(ids)].filter((id) => !done.includes(id));
  return Promise.all(
    left.map(async (id) => {
      try {
        return { id, reason: why((await store.jobs.get(id)).status) };
      } catch (error) {
        if (error instanceof NotFoundError) return { id, reason: "no such job" };
        throw error;
      }
    }),
  );
}

function outcome(summary: string, notDone: Array<{ id: string; reason: string }>): string {
  return [summary, ...notDone.map((n) => `${n.id}: ${n.reason}`)].join("\n");
}
