#!/usr/bin/env node
/** The flowstore command (its commands: program.ts). */

import { errorJson, errorLine } from "./context.js";
import { flowstoreProgram } from "./program.js";

const { program, cli } = flowstoreProgram(process.argv);

program.parseAsync(process.argv).catch((error: unknown) => {
  // One clear line by default (a JSON object with --json, for scripts); the stack only when asked for.
  process.stderr.write(
    cli.options.json
      ? `${JSON.stringify({ error: errorJson(error) })}\n`
      : `flowstore: ${errorLine(error)}\n`,
  );
  if (cli.options.verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
