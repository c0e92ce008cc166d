/**
 * A workflow 5.0 prerelease app as its users make one, on flowstore/workflow's World for spec 6-7: the
 * tests of test/support/workflow-app.ts (a tour of the line's features, retries, cancellation,
 * `workflow inspect` and a `kill -9` mid-step), its runs recorded under spec 7 and its events numbered
 * by position (slot-numbered ids the runtime reads), at the newest prerelease the project pins (the
 * registry has no beta tag), or the one `npm run test:engines -- --newest` names. Then the same app
 * with the sealed log turned off (WORKFLOW_SEALED_LOG=0, the SDK's way back to spec 6): its runs are
 * recorded under spec 6, their events still numbered by position (the kill test, the same code path
 * in both modes, runs once).
 */
import { describeWorkflowApp } from "../../support/workflow-app.js";

const WORKFLOW_BETA = process.env.FLOWSTORE_WORKFLOW_PRERELEASE ?? "5.0.0-beta.55";

describeWorkflowApp({ version: WORKFLOW_BETA, specVersion: 7 });
describeWorkflowApp({
  version: WORKFLOW_BETA,
  specVersion: 6,
  env: { WORKFLOW_SEALED_LOG: "0" },
  kill: false,
});
