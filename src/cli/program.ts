/**
 * The flowstore command's commands, options and help. Every command takes --url, --schema, --read-url,
 * --read-only, --json and --verbose. Built by a function so that the help of every command can be read
 * without starting a process per command.
 */

import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { DEFAULT_SCHEMA, migrationScript } from "../index.js";
import { registerBlobCommands } from "./blobs.js";
import { CliContext, usageErrorOutput } from "./context.js";
import { registerDemoCommand } from "./demo.js";
import { registerExecutionCommands } from "./executions.js";
import { registerJobCommands } from "./jobs.js";
import { registerKvCommands } from "./kv.js";
import { registerPartitionsCommand } from "./partitions.js";
import { registerPruneCommand } from "./prune.js";
import { registerScheduleCommands } from "./schedules.js";
import { absentSchema, printAbsentSchema, SCHEMA_ABSENT_EXIT } from "./schema-absent.js";
import { registerServeCommand } from "./serve.js";
import { printStatus, readStatus } from "./status.js";

/** This package's version, from its package.json (two folders up, from src/cli/ as from dist/cli/). */
const VERSION = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/** The command for `argv` (its --json decides how usage errors are written), ready to parse it. */
export function flowstoreProgram(argv: string[]): { program: Command; cli: CliContext } {
  const program = new Command("flowstore")
    .description("A PostgreSQL state store for workflow engines.")
    .version(VERSION, "-V, --version", "print flowstore's version")
    .addOption(
      new Option(
        "--url <url>",
        "PostgreSQL URL or key=value DSN (default: DATABASE_URL, else the embedded store)",
      ).env("DATABASE_URL"),
    )
    .addOption(new Option("--schema <name>", "schema holding the flowstore tables").default(DEFAULT_SCHEMA))
    .addOption(
      new Option("--data-dir <dir>", "embedded store directory (default ./.flowstore)").env(
        "FLOWSTORE_DATA_DIR",
      ),
    )
    .addOption(
      new Option(
        "--read-url <url>",
        "a replica (streaming standby) that lists, counts and the dashboard read from; reads by id stay on --url",
      ).env("FLOWSTORE_READ_URL"),
    )
    .option(
      "--read-only",
      "look, never write (for a standby): nothing is migrated, and commands that change the store are refused",
    )
    .option("--json", "machine-readable output")
    .option(
      "--verbose",
      "print each migration as it is applied (as on a terminal), and stack traces on errors",
    )
    .showHelpAfterError()
    .configureOutput(usageErrorOutput(argv))
    .addHelpText(
      "after",
      `
Examples:
  $ flowstore migrate                              # migrate the embedded store in ./.flowstore
  $ flowstore status --url postgres://localhost/app
  $ flowstore sql --schema workflows > flowstore.sql
  $ flowstore demo                                 # the example engine and the dashboard (npm start)
  $ flowstore jobs stats --url postgres://standby/app --read-only
  $ flowstore serve --url postgres://primary/app --read-url postgres://standby/app

With --read-only (against a standby, or any store you only mean to look at), the store is opened
read-only: migrations are not run (the schema must be at this version), the inspection commands
(status, executions list|show, jobs stats|list, timers, schedules list|get, kv get|list, blobs get|ls,
prune --dry-run, partitions) work, commands that change the store (migrate, executions fork|rewind,
jobs retry|cancel, schedules pause|resume|delete, kv set, blobs put, prune, partitions --ensure, demo)
exit with an error before touching it, and serve's dashboard shows
everything but refuses its actions.`,
    );

  const cli = new CliContext(program);

  program
    .command("migrate")
    .description("apply pending migrations (each in its own transaction, under an advisory lock)")
    .addHelpText(
      "after",
      "\nExample:\n  $ flowstore migrate --url postgres://user@localhost/app --schema flowstore",
    )
    .action(() =>
      cli.withStore({ migrate: false, changes: "migrate" }, async (store) => {
        const result = await store.migrate({ progress: cli.migrationProgress() });
        const text = result.applied.length
          ? `applied ${result.applied.length} migration(s) to schema ${store.schema}: ${result.applied.join(", ")}`
          : `schema ${store.schema} is up to date (version ${result.version})`;
        cli.print({ schema: store.schema, ...result }, () => text);
      }),
    );

  program
    .command("sql")
    .description("print the full DDL, for users who apply migrations with their own tool")
    .addHelpText("after", '\nExample:\n  $ flowstore sql --schema flowstore | psql "$DATABASE_URL"')
    .action(() => {
      process.stdout.write(migrationScript(cli.options.schema));
    });

  program
    .command("status")
    .description("connection, schema version, table sizes")
    .addHelpText("after", "\nExample:\n  $ flowstore status --json")
    .action(() =>
      cli.withStore({ migrate: false }, async (store) => {
        const absent = await absentSchema(store, cli.storeFlags());
        if (absent) {
          cli.print(absent, () => printAbsentSchema(absent));
          process.exitCode = SCHEMA_ABSENT_EXIT;
          return;
        }
        const status = await readStatus(store);
        cli.print(status, () => printStatus(status));
      }),
    );

  registerExecutionCommands(program, cli);
  registerJobCommands(program, cli);
  registerScheduleCommands(program, cli);
  registerKvCommands(program, cli);
  registerBlobCommands(program, cli);
  registerPruneCommand(program, cli);
  registerPartitionsCommand(program, cli);
  registerServeCommand(program, cli);
  registerDemoCommand(program, cli);
  requireOptionsAfterUnknownOnes(program);
  return { program, cli };
}

/**
 * Commander reports a required option left out before an unknown one, so `fork <id> --from-stp 2`
 * was told that --from-step is missing, and never that --from-stp is not a flag. Each required option
 * is checked instead before the action runs, which is after commander has refused an unknown option
 * (with the flag it most likely meant) and checked the arguments; the message is commander's own.
 */
function requireOptionsAfterUnknownOnes(program: Command): void {
  const required = new Set<Option>();
  const visit = (command: Command) => {
    for (const option of command.options) {
      if (!option.mandatory) continue;
      option.mandatory = false;
      required.add(option);
    }
    command.commands.forEach(visit);
  };
  visit(program);
  program.hook("preAction", (_program, command) => {
    for (const option of command.options) {
      if (required.has(option) && command.getOptionValue(option.attributeName()) === undefined) {
        command.error(`error: required option '${option.flags}' not specified`, {
          code: "commander.missingMandatoryOptionValue",
        });
      }
    }
  });
}
