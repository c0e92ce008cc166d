export { addDays, rangeName, startOfDay, uuidFloor, uuidTime } from "./bounds.js";
export {
  type DroppedRange,
  type DropRangeOptions,
  dropEmptyRange,
  dropRange,
  RangeChangedError,
} from "./drop.js";
export {
  checkPartitionOptions,
  ensureRanges,
  type HistoryRange,
  listRanges,
  type PartitionOptions,
  partitionOf,
  type RangeSize,
  rangeSizes,
} from "./ranges.js";
export {
  COMPONENT_STATE,
  EXECUTION_TABLES,
  EXECUTIONS,
  JOBS_HISTORY,
  PARTITIONED_TABLES,
  TASKS,
} from "./tables.js";
export { fitTemplateRanges, templateRanges } from "./template-ranges.js";
