/** The lifecycle shared by executions and tasks. */

export const RUN_STATUSES = [
  "pending",
  "running",
  "waiting",
  "completed",
  "failed",
  "cancelled",
  "timed_out",
] as const;

export type RunStatus = (typeof RUN_STATUSES)[number];

/** Once in one of these, a run's status never changes again. */
export const TERMINAL_STATUSES: readonly RunStatus[] = ["completed", "failed", "cancelled", "timed_out"];

/** The terminal statuses as SQL text, for statements (the list is ours, never user input). */
export const TERMINAL_SQL = `('completed', 'failed', 'cancelled', 'timed_out')`;

/** The statuses of a run still going, as an SQL list: the complement of TERMINAL_SQL. */
export const LIVE_SQL = "'pending', 'running', 'waiting'";

export function isTerminal(status: RunStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** A count for every status, zero where the database returned none. */
export function countsByStatus(
  rows: readonly { status: string; count: number }[],
): Record<RunStatus, number> {
  const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
  for (const row of rows) counts[row.status as RunStatus] = row.count;
  return counts;
}
