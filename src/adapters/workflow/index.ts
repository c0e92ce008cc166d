/**
 * `flowstore/workflow`: a Workflow SDK World on flowstore. `createWorld()` with no arguments opens the
 * store from the environment (DATABASE_URL, else the embedded one), so a World module can be named by
 * `WORKFLOW_TARGET_WORLD` as it is, for workflow 4.x (World spec 3), the 5.0 betas to 41 (spec 5) or
 * those from 42 (specs 6 and 7, whose events are numbered by position), as the installed
 * @workflow/world declares.
 */

import { createWorld } from "./world.js";

export { AttributeValidationError } from "./attributes.js";
export {
  EntityConflictError,
  HookNotFoundError,
  RunExpiredError,
  RunNotSupportedError,
  TooEarlyError,
  WorkflowRunNotFoundError,
  WorkflowWorldError,
} from "./errors.js";
export { createQueueHandler, type Deliver } from "./queue.js";
export { createWorld, type FlowstoreWorld, type FlowstoreWorldOptions } from "./world.js";

export default createWorld;
