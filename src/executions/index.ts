/** What executions/ offers the rest of the store: other folders import it from here, and only this. */

export { explainMiss, type MissedRow } from "./records.js";
