/**
 * flowstore/openai-agents: the OpenAI Agents SDK's conversation sessions on a flowstore store.
 * `FlowstoreSession` is a `Session` with every optional capability a durable store serves (history
 * mutations, history transactions, compaction replacement). `FlowstorePausedRuns` keeps runs paused on
 * tool approvals: each approval decided once, each run resumed once, from any process.
 */

export type {
  Approval,
  DecideOptions,
  FlowstorePausedRunsOptions,
  ListPausedRunsOptions,
  PausedRun,
  PausedRunSource,
  PausedRunStatus,
  RejectOptions,
  ResumeOptions,
} from "./paused-run-types.js";
export { FlowstorePausedRuns } from "./paused-runs.js";
export { FlowstoreSession, type FlowstoreSessionOptions } from "./session.js";
