/** A stored checkpoint as the statements of steps.ts and batch.ts select it, and as callers get it. */

import type { StepCheckpoint } from "./types.js";

export interface StepRow {
  execution_id: string;
  step_number: number;
  name: string;
  output: string | null;
  output_bytes: Uint8Array | null;
  error: string | null;
  attempts: number | null;
  created_at: Date;
}

/** A stored checkpoint row and whether this statement wrote it. */
export type RecordedRow = StepRow & { created: boolean };

/** JSON comes back as text, so a recorded JSON null and no output at all stay apart. */
export const COLUMNS =
  "execution_id, step_number, name, output::text, output_bytes, error::text, attempts, created_at";

export function toCheckpoint(row: StepRow): StepCheckpoint {
  return {
    executionId: row.execution_id,
    number: row.step_number,
    name: row.name,
    output: row.output_bytes ?? (row.output === null ? undefined : JSON.parse(row.output)),
    error: row.error === null ? undefined : JSON.parse(row.error),
    ...(row.attempts === null ? {} : { attempts: row.attempts }),
    createdAt: row.created_at,
  };
}
