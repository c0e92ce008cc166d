/**
 * The tables partitioned by time (migration 0019): each by range of an id whose first 48 bits are a
 * time (UUIDv7), in the same ranges. The first eight hold what an execution owns and are partitioned by
 * its id, so a run's rows are all in the partitions of one range; jobs_history by the job's id.
 */

export interface PartitionedTable {
  readonly name: string;
  /** The partition key: an execution's id, or for jobs_history the job's. */
  readonly column: string;
  /** Set on each partition (a partitioned table has no storage of its own to set it on). */
  readonly fillfactor?: number;
}

/**
 * The tables keyed by execution, executions first: in this order rows are put in (executions before
 * what references them), in the reverse order taken out.
 */
/** Pages 30% free: a run's row is written again at every step, its state often kilobytes (migration 0045). */
export const EXECUTIONS: PartitionedTable = { name: "executions", column: "id", fillfactor: 70 };

export const TASKS: PartitionedTable = { name: "tasks", column: "execution_id", fillfactor: 90 };

export const COMPONENT_STATE: PartitionedTable = { name: "component_state", column: "execution_id" };

export const EXECUTION_TABLES: readonly PartitionedTable[] = [
  EXECUTIONS,
  TASKS,
  COMPONENT_STATE,
  { name: "event_heads", column: "execution_id" },
  { name: "events", column: "execution_id" },
  { name: "steps", column: "execution_id" },
  { name: "streams", column: "execution_id", fillfactor: 70 },
  { name: "stream_chunks", column: "execution_id" },
];

export const JOBS_HISTORY: PartitionedTable = { name: "jobs_history", column: "id" };

export const PARTITIONED_TABLES: readonly PartitionedTable[] = [...EXECUTION_TABLES, JOBS_HISTORY];

/**
 * correlations is not partitioned (it is read by key across executions) but references executions: its
 * rows for executions that move or go are taken out with them, or the partition could not be detached.
 */
export const CORRELATIONS: PartitionedTable = { name: "correlations", column: "execution_id" };
