/** What step checkpoints are, and what callers pass to record and list them. */

export interface RecordStep {
  executionId: string;
  /** The step's position in its run: 0, 1, 2... as the run's code reaches its steps. */
  number: number;
  /** What ran there (a function's name); replay checks that the same step comes back under the number. */
  name: string;
  /** What the step returned: bytes (a Uint8Array) as they are, anything else as JSON. Omitted: none. */
  output?: unknown;
  /**
   * How the step failed, when it did: an Error is kept as its name, message and stack, anything else as
   * JSON. Omitted (or null): it did not fail.
   */
  error?: unknown;
  /**
   * How many times the step ran to reach this outcome (1 or more), for the run page and `executions
   * show`. Omitted: not known, and not shown.
   */
  attempts?: number;
}

export interface StepCheckpoint {
  executionId: string;
  number: number;
  name: string;
  /** What was recorded: bytes as a Buffer, JSON as its value; undefined when no output was recorded. */
  output: unknown;
  /** The recorded error; undefined when the step did not fail. */
  error: unknown;
  /** How many times it ran, as recorded; absent when the record did not say. */
  attempts?: number;
  createdAt: Date;
}

export interface RecordStepResult {
  /** The checkpoint now stored: this call's, or the one recorded first. */
  step: StepCheckpoint;
  /** True when this call wrote it; false when another writer had recorded the step already. */
  created: boolean;
}

export interface StepListOptions {
  /** Only steps from this number on (default 0). */
  from?: number;
  /** At most this many steps (default: all of them). */
  limit?: number;
}
