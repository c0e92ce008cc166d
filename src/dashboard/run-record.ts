/**
 * What a durable run recorded, as its page and `flowstore executions show` present it: its steps (with
 * how long each took), its history's latest events, and where it came from (a fork's source and step, its
 * last rewind). Values are read from the rows, not resolved: a value offloaded to the blob store, raw
 * bytes or JSON over INLINE_BYTES stays out and is described (ValueRef), to be opened on demand
 * (openStepOutput, openEventPayload read it whole through the store's own get).
 */

import { type Execution, NotFoundError, type Store } from "../index.js";

/** The most steps a page reads, and the latest events it lists. */
export const MAX_STEPS = 1_000;
export const EVENTS_SHOWN = 200;
/** JSON values up to this size (as text) come inline; bigger ones are opened on demand. */
export const INLINE_BYTES = 64 * 1024;
/** The key of an offloaded value's reference in its row (the store reserves it: docs/production.md). */
const OFFLOADED = "$flowstore:offloaded";

/** A value that is not inline: its size and kind, and the blob's key when it was offloaded. */
export interface ValueRef {
  bytes: number;
  kind: "json" | "bytes";
  /** The blob store's key (`flowstore blobs get <key>`), when the value was offloaded there. */
  offloaded: string | null;
}

export interface StepView {
  number: number;
  name: string;
  /** How many times it ran, when the engine recorded that (steps.record's `attempts`); null when not. */
  attempts: number | null;
  createdAt: Date;
  /** From the previous checkpoint (or the run's start, or the fork or rewind it came after) to this one. */
  durationMs: number | null;
  /** The output, inline; absent when none was recorded or when it is not inline (outputRef). */
  output?: unknown;
  outputRef: ValueRef | null;
  /** How the step failed; null when it did not. */
  error: unknown;
  /** Kept from the source by a fork (a step below its forkStep), with the source's times. */
  copied: boolean;
}

export interface EventView {
  sequence: number;
  type: string;
  correlationId: string | null;
  createdAt: Date;
  payload?: unknown;
  payloadRef: ValueRef | null;
  /** Kept from the source by a fork (appended before the fork was made), with the source's time. */
  copied: boolean;
}

/** Where a run came from: null for each it is not. */
export interface RunOrigin {
  /** Forked from `of` at `step` (it kept the source's steps below it), at `at`; `source` null when pruned. */
  fork: { of: string; step: number; at: Date; source: { name: string; status: string } | null } | null;
  /** Its last rewind: back to `toStep`, which gave it version `version`, at `at`. */
  rewind: { toStep: number; version: number; at: Date } | null;
}

interface ValueColumns {
  inline: string | null;
  reference: { key: string; bytes: number; kind: "json" | "bytes" } | null;
  json_bytes: number | null;
  raw_bytes: number | null;
}

/** The columns that describe a JSON column `json` beside a bytea column `raw`, without reading big ones. */
function valueColumns(json: string, raw: string): string {
  return `case when octet_length(${json}::text) <= ${INLINE_BYTES} then ${json}::text end as inline,
          ${json} -> '${OFFLOADED}' as reference, octet_length(${json}::text) as json_bytes,
          octet_length(${raw}) as raw_bytes`;
}

/** The value inline (`value`, absent when there is none), or what stands for it (`ref`). */
function shownValue(row: ValueColumns): { value?: unknown; ref: ValueRef | null } {
  if (row.reference) {
    const { key, bytes, kind } = row.reference;
    return { ref: { bytes, kind, offloaded: key } };
  }
  if (row.raw_bytes !== null) return { ref: { bytes: row.raw_bytes, kind: "bytes", offloaded: null } };
  if (row.inline !== null) return { value: JSON.parse(row.inline), ref: null };
  if (row.json_bytes !== null) return { ref: { bytes: row.json_bytes, kind: "json", offloaded: null } };
  return { ref: null };
}

/** The run's steps in order (up to MAX_STEPS), each with its duration. */
export async function runSteps(store: Store, run: Execution): Promise<{ steps: StepView[]; more: boolean }> {
  const { rows } = await store.query<
    ValueColumns & {
      number: number;
      name: string;
      attempts: number | null;
      created_at: Date;
      error: string | null;
    }
  >(
    `select step_number as number, name, attempts, created_at, error::text as error,
            ${valueColumns("output", "output_bytes")}
       from "${store.schema}".steps where execution_id = $1 order by step_number limit $2`,
    [run.id, MAX_STEPS + 1],
  );
  const origin = originStep(run);
  let previous = (run.startedAt ?? run.createdAt).getTime();
  const steps = rows.slice(0, MAX_STEPS).map((row) => {
    let start = previous;
    if (origin && row.number >= origin.step) start = Math.max(start, origin.at);
    const end = row.created_at.getTime();
    previous = end;
    const value = shownValue(row);
    const step: StepView = {
      number: row.number,
      name: row.name,
      attempts: row.attempts,
      createdAt: row.created_at,
      durationMs: end >= start ? end - start : null,
      outputRef: value.ref,
      error: row.error === null ? null : JSON.parse(row.error),
      copied: run.forkStep !== null && row.number < run.forkStep,
    };
    return "value" in value ? { ...step, output: value.value } : step;
  });
  return { steps, more: rows.length > MAX_STEPS };
}

/** Where a run's steps start again: its fork's step (when it was made), or its last rewind's. */
function originStep(run: Execution): { step: number; at: number } | null {
  if (run.rewoundToStep !== null && run.rewoundAt !== null) {
    return { step: run.rewoundToStep, at: run.rewoundAt.getTime() };
  }
  if (run.forkStep !== null) return { step: run.forkStep, at: run.createdAt.getTime() };
  return null;
}

/** The run's latest EVENTS_SHOWN events, oldest of them first; `earlier` when the history has more. */
export async function latestEvents(
  store: Store,
  run: Execution,
): Promise<{ events: EventView[]; earlier: boolean }> {
  const { rows } = await store.query<
    ValueColumns & { seq: number; type: string; correlation_id: string | null; created_at: Date }
  >(
    `select seq, type, correlation_id, created_at, ${valueColumns("payload", "payload_bytes")}
       from "${store.schema}".events where execution_id = $1 order by seq desc limit $2`,
    [run.id, EVENTS_SHOWN + 1],
  );
  const events = rows
    .slice(0, EVENTS_SHOWN)
    .reverse()
    .map((row) => {
      const value = shownValue(row);
      const event: EventView = {
        sequence: Number(row.seq),
        type: row.type,
        correlationId: row.correlation_id,
        createdAt: row.created_at,
        payloadRef: value.ref,
        copied: run.forkOf !== null && row.created_at < run.createdAt,
      };
      return "value" in value ? { ...event, payload: value.value } : event;
    });
  return { events, earlier: rows.length > EVENTS_SHOWN };
}

/** Where the run came from (see RunOrigin); the fork's source is looked up, as it may have been pruned. */
export async function runOrigin(store: Store, run: Execution): Promise<RunOrigin> {
  let fork: RunOrigin["fork"] = null;
  if (run.forkOf !== null && run.forkStep !== null) {
    const source = await store.executions.get(run.forkOf).catch((error: unknown) => {
      if (error instanceof NotFoundError) return null;
      throw error;
    });
    fork = {
      of: run.forkOf,
      step: run.forkStep,
      at: run.createdAt,
      source: source && { name: source.name, status: source.status },
    };
  }
  const rewind =
    run.rewoundToStep !== null && run.rewoundVersion !== null && run.rewoundAt !== null
      ? { toStep: run.rewoundToStep, version: run.rewoundVersion, at: run.rewoundAt }
      : null;
  return { fork, rewind };
}

/** A step's output, whole (read from the blob store when offloaded); NotFoundError when none is recorded. */
export async function openStepOutput(store: Store, id: string, number: number): Promise<unknown> {
  const step = await store.steps.get(id, number);
  if (!step) throw new NotFoundError(`execution ${id} has no step ${number}`);
  if (step.output === undefined) throw new NotFoundError(`step ${number} of execution ${id} has no output`);
  return step.output;
}

/** An event's payload, whole (read from the blob store when offloaded). */
export async function openEventPayload(store: Store, id: string, sequence: number): Promise<unknown> {
  return (await store.events.get(id, sequence)).payload;
}
