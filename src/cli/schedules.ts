/** `flowstore schedules ...`: cron schedules, listed, paused, resumed, deleted, and an expression's next ticks. */

import type { Command } from "commander";
import { nextCronTicks, type Schedule } from "../index.js";
import { type CliContext, columns, wholeNumber } from "./context.js";

function row(s: Schedule): Record<string, unknown> {
  return {
    name: s.name,
    cron: s.cron,
    zone: s.timeZone,
    queue: s.queue,
    job: s.jobName,
    missed: s.missed,
    "next run": s.pausedAt ? "paused" : s.nextRunAt,
    "last run": s.lastRunAt,
  };
}

export function registerScheduleCommands(program: Command, cli: CliContext): void {
  const schedules = program
    .command("schedules")
    .description(
      "cron schedules: list (the default), get, pause, resume, delete; next ticks of an expression",
    )
    .addHelpText(
      "after",
      `
Examples:
  $ flowstore schedules                        # every schedule, with its next and last run
  $ flowstore schedules pause nightly-report
  $ flowstore schedules next "30 2 * * *" --time-zone Europe/Berlin`,
    );

  schedules
    .command("list", { isDefault: true })
    .description("every schedule, by name: cron, zone, queue, next and last run")
    .addHelpText("after", "\nExample:\n  $ flowstore schedules list --json")
    .action(() =>
      cli.withStore({ migrate: false }, async (store) => {
        const list = await store.schedules.list();
        cli.print(list, () => columns(list.map(row), "no schedules"));
      }),
    );

  schedules
    .command("get")
    .description("one schedule, whole")
    .argument("<name>", "the schedule's name")
    .addHelpText("after", "\nExample:\n  $ flowstore schedules get nightly-report --json")
    .action((name: string) =>
      cli.withStore({ migrate: false }, async (store) => {
        const schedule = await store.schedules.get(name);
        const fields = { ...row(schedule), payload: JSON.stringify(schedule.payload) };
        cli.print(schedule, () =>
          columns(Object.entries(fields).map(([field, value]) => ({ field, value }))),
        );
      }),
    );

  const changes = [
    ["pause", "stop enqueueing a schedule's ticks until it is resumed", "paused", "was paused already"],
    [
      "resume",
      "enqueue a paused schedule's ticks again, from its next tick after now",
      "resumed",
      "was not paused",
    ],
    ["delete", "remove a schedule (the jobs it enqueued stay)", "deleted", "is no schedule"],
  ] as const;
  for (const [verb, description, done, undone] of changes) {
    schedules
      .command(verb)
      .description(description)
      .argument("<name>", "the schedule's name")
      .addHelpText("after", `\nExample:\n  $ flowstore schedules ${verb} nightly-report`)
      .action((name: string) =>
        cli.withStore({ migrate: false, changes: `schedules ${verb}` }, async (store) => {
          const changed = await store.schedules[verb](name);
          cli.print({ name, [done]: changed }, () => (changed ? `${done} ${name}` : `${name} ${undone}`));
          // Nothing there to delete is a failure; pausing what is paused is not, as for queues.
          if (!changed && verb === "delete") process.exitCode = 1;
        }),
      );
  }

  schedules
    .command("next")
    .description("the next ticks of a cron expression (opens no store)")
    .argument("<cron>", 'a cron expression, such as "0 3 * * *" or @daily')
    .option("--time-zone <zone>", "an IANA time zone", "UTC")
    .option("--count <n>", "how many", wholeNumber(1), 5)
    .addHelpText(
      "after",
      '\nExample:\n  $ flowstore schedules next "*/15 9-17 * * mon-fri" --time-zone America/New_York',
    )
    .action((cron: string, options: { timeZone: string; count: number }) => {
      const ticks = nextCronTicks(cron, { timeZone: options.timeZone, count: options.count });
      cli.print(ticks, () => ticks.map((t) => t.toISOString()).join("\n"));
    });
}
