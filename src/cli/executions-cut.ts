/** `flowstore executions fork|rewind`: a run again from a step, as a new run or as itself. */

import type { Command } from "commander";
import type { Execution, Store } from "../index.js";
import { type CliContext, wholeNumber } from "./context.js";

interface CutCommand {
  name: "fork" | "rewind";
  description: string;
  /** The step option: commander's flag and what it means. */
  step: [flag: string, meaning: string];
  /** The call, and the line that describes its result. */
  run: (store: Store, id: string, step: number, force: boolean) => Promise<Execution>;
  done: (id: string, step: number) => string;
}

const COMMANDS: CutCommand[] = [
  {
    name: "fork",
    description: "a new run that keeps the steps below N (and what the run recorded up to them), pending",
    step: ["--from-step <n>", "the step the new run runs again from"],
    run: (store, id, fromStep, force) => store.executions.fork(id, { fromStep, force }),
    done: (id, step) => `forked ${id} from step ${step}`,
  },
  {
    name: "rewind",
    description: "take a run back to step N: its steps from N on and what it recorded after N-1 are deleted",
    step: ["--to-step <n>", "the first step deleted: the run runs again from it"],
    run: (store, id, toStep, force) => store.executions.rewind(id, { toStep, force }),
    done: (_id, step) => `rewound to step ${step}`,
  },
];

export function registerCutCommands(executions: Command, cli: CliContext): void {
  for (const command of COMMANDS) {
    const [flag, meaning] = command.step;
    executions
      .command(command.name)
      .description(command.description)
      .argument("<id>", "execution id")
      .requiredOption(flag, meaning, wholeNumber(0))
      .option(
        "--force",
        "also a run that has not finished (pending, running, waiting): whoever runs it may go on writing",
      )
      .addHelpText(
        "after",
        `\nExample:\n  $ flowstore executions ${command.name} 0192f0c4-8a1e-7c3d-9f00-5b6e2d4c1a77 ${flag.split(" ")[0]} 2`,
      )
      .action((id: string, options: { fromStep?: number; toStep?: number; force?: boolean }) =>
        cli.withStore({ migrate: false, changes: `executions ${command.name}` }, async (store) => {
          const step = (options.fromStep ?? options.toStep) as number;
          const run = await command.run(store, id, step, options.force === true);
          cli.print(
            run,
            () => `${command.done(id, step)}: execution ${run.id}, ${run.status}, version ${run.version}`,
          );
        }),
      );
  }
}
