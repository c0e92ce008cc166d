/** What executions/ offers the rest of the store: other folders import it from here, and only this. */

export { liveRuns, runsWithLiveChildren } from "./live-runs.js";
export { explainMiss, type MissedRow } from "./records.js";
