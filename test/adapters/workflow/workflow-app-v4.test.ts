/**
 * A workflow 4.x app as its users make one, on flowstore/workflow: the tests of test/support/
 * workflow-app.ts (a tour of the line's features, retries, cancellation, `workflow inspect` and a
 * `kill -9` mid-step) at the 4.x release the project pins (its @workflow/core alias), or the one
 * `npm run test:engines -- --newest` names.
 */
import { readFileSync } from "node:fs";
import { describeWorkflowApp } from "../../support/workflow-app.js";

const WORKFLOW_V4 =
  process.env.FLOWSTORE_WORKFLOW_STABLE ??
  (JSON.parse(readFileSync("package.json", "utf8")).devDependencies["@workflow/core-4"] as string).replace(
    /^npm:@workflow\/core@/,
    "",
  );

describeWorkflowApp({ version: WORKFLOW_V4, specVersion: 3 });
