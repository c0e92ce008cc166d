/** What history/ offers the rest of the store: other folders import it from here, and only this. */

export {
  type AppendColumns,
  appendStatement,
  appendValues,
  type EventRow,
  eventsChannelPrefix,
  MAX_KEY_BYTES,
  optionalPayload,
  rethrowMissingExecution,
  toEvent,
} from "./append.js";
export { appendOnCitus } from "./append-distributed.js";
export {
  type BatchWritten,
  type HistoryWrite,
  historyBatcher,
  historyTail,
  inBatch,
  probedRows,
} from "./batch.js";
export { deleteEventsOf } from "./events.js";
export type { HistoryEvent } from "./types.js";
export { APPEND_FIELDS, APPEND_KEYS, type AppendOption, type WithHistory, writeOne } from "./writes.js";
