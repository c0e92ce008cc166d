/**
 * examples/mastra.ts runs as a user runs it (`npx tsx examples/mastra.ts`, flowstore imported by name),
 * on the embedded default in a new directory and on a server through DATABASE_URL, and prints what its
 * comments say: the run suspended, resumed with both parallel steps' amounts, listed, and the thread.
 */
import { itRunsExample } from "../../support/example-process.js";
import { describeMastra } from "../../support/mastra.js";

const PRINTS =
  /^run suspended, waiting for approval of \{"total":45\}\nrun success: \{"total":45,"approvedBy":"ann"\}\norder runs: 1, latest success\nthread: user: Where is my order\? \/ assistant: It was approved and ships today\.\n$/;

describeMastra("examples/mastra.ts", () => itRunsExample("mastra.ts", PRINTS));
