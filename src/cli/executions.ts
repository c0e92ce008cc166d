/** `flowstore executions list|show|fork|rewind`. */

import { type Command, Option } from "commander";
import { EXECUTION_STATUSES, type ExecutionStatus } from "../index.js";
import { type CliContext, columns, wholeNumber } from "./context.js";
import { registerCutCommands } from "./executions-cut.js";
import { duration, originLabel, registerShowCommand } from "./executions-show.js";

export function registerExecutionCommands(program: Command, cli: CliContext): void {
  const executions = program
    .command("executions")
    .description("workflow runs: list them, show one's steps and task tree, fork or rewind one at a step")
    .addHelpText("after", "\nExample:\n  $ flowstore executions show <id>");

  executions
    .command("list")
    .description("executions, newest first, a page at a time")
    .addOption(new Option("--status <status>", "one status only").choices([...EXECUTION_STATUSES]))
    .option("--definition <name>", "runs of the workflow with this name (any version, or none registered)")
    .option("--limit <n>", "page size", wholeNumber(1), 50)
    .option("--cursor <cursor>", "the nextCursor of the previous page")
    .addHelpText("after", "\nExample:\n  $ flowstore executions list --status failed --limit 20 --json")
    .action((options: { status?: ExecutionStatus; definition?: string; limit: number; cursor?: string }) =>
      cli.withStore({ migrate: false }, async (store) => {
        const page = await store.executions.list({
          status: options.status,
          definitionName: options.definition,
          limit: options.limit,
          cursor: options.cursor,
          order: "desc",
        });
        cli.print(page, () => {
          const table = columns(
            page.items.map((e) => ({
              id: e.id,
              workflow: e.name,
              status: e.status,
              created: e.createdAt,
              duration: duration(e.startedAt ?? e.createdAt, e.completedAt),
              key: e.idempotencyKey,
              origin: originLabel(e),
            })),
            "no executions",
          );
          return page.nextCursor ? `${table}\nmore: --cursor ${page.nextCursor}` : table;
        });
      }),
    );

  registerShowCommand(executions, cli);
  registerCutCommands(executions, cli);
}
