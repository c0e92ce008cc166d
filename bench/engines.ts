/**
 * npm run bench -- engines
 *
 * Engines on their own storage against the same engines on flowstore's adapters, each engine's part in
 * its own file: the Workflow SDK (bench/engines-workflow.ts) and LangGraph (bench/engines-langgraph.ts).
 */

import { runLangGraph } from "./engines-langgraph.js";
import { runWorkflowEngines } from "./engines-workflow.js";
import type { BenchContext } from "./lib.js";

export async function run(context: BenchContext): Promise<void> {
  await runWorkflowEngines(context);
  await runLangGraph(context);
}
