/**
 * Typed queues: a queue's job names and the payload type of each, checked by the compiler where jobs
 * are enqueued (here, on the store or in a transaction) and where a worker handles them (the worker's
 * typed-queue.ts). Types only: at run time a typed queue is the queue's own enqueue with the queue's
 * name filled in, and nothing checks a payload's shape.
 *
 * `Payloads` maps each job name to its payload: `{ welcome: { userId: string }; digest: { day: string } }`
 * (an interface works as well). `Record<string, P>` is a queue whose jobs all carry a P, whatever
 * their names. A payload is stored as JSON and read back from it, so it should be a JSON value: a Date
 * comes back a string, an undefined field is left out, and a payload left out comes back null.
 */

import type { EnqueueJob, Job, LeasedJob } from "./types.js";

/** The job names of a queue typed with `Payloads`. */
export type JobName<Payloads> = keyof Payloads & string;

/**
 * What an enqueue takes beside the queue, the name and the payload: every other field of EnqueueJob
 * (priority, runAt, key...), as that type has them.
 */
export type TypedEnqueueOptions = Omit<EnqueueJob, "queue" | "name" | "payload">;

/** A typed enqueue's arguments after the name: the payload, which may be left out where null is one. */
export type EnqueueArguments<Payload> = null extends Payload
  ? [payload?: Payload, options?: TypedEnqueueOptions]
  : [payload: Payload, options?: TypedEnqueueOptions];

/** A job of enqueueMany: one of the queue's names, its payload and the options of an enqueue. */
export type TypedEnqueueJob<Payloads> = {
  [N in JobName<Payloads>]: TypedEnqueueOptions & { name: N } & (null extends Payloads[N]
      ? { payload?: Payloads[N] }
      : { payload: Payloads[N] });
}[JobName<Payloads>];

/**
 * A job of a typed queue, as a worker's handler gets it (or, with `Job` for `J`, any job of it): a
 * union on `name`, so that checking the name (an `if` or a `switch`) narrows `payload` to its type.
 */
export type TypedJob<Payloads, J extends Job = LeasedJob> = {
  [N in JobName<Payloads>]: Omit<J, "name" | "payload"> & { name: N; payload: Payloads[N] };
}[JobName<Payloads>];

/** Never set: the phantom that carries a queue definition's payload types. */
declare const payloadTypes: unique symbol;

/** A queue's name with its payload types, to give to `jobs.queue()` on the store or in a transaction. */
export interface QueueDefinition<Payloads extends object = Record<string, unknown>> {
  readonly name: string;
  readonly [payloadTypes]?: Payloads;
}

/**
 * Names a queue and its payload types once, for `store.jobs.queue(emails)` (enqueue and work) and
 * `tx.jobs.queue(emails)` (enqueue in a transaction). The types are the compiler's alone.
 */
export function defineQueue<Payloads extends object = Record<string, unknown>>(
  name: string,
): QueueDefinition<Payloads> {
  return { name };
}

/** What a typed queue uses of the queue: its enqueue, on the store or on a transaction's connection. */
export interface Enqueues {
  enqueue(jobs: EnqueueJob[]): Promise<string[]>;
  enqueue(job: EnqueueJob): Promise<string>;
}

/**
 * One queue with its payload types (`jobs.queue()`): enqueue checks the name and the payload at
 * compile time and is the queue's enqueue otherwise (dedupe keys, delays, the enclosing transaction).
 * It is itself a QueueDefinition, so it can be given to `tx.jobs.queue()`.
 */
export class TypedQueue<Payloads extends object = Record<string, unknown>>
  implements QueueDefinition<Payloads>
{
  declare readonly [payloadTypes]?: Payloads;
  readonly name: string;

  constructor(
    queue: string | QueueDefinition<Payloads>,
    protected readonly jobs: Enqueues,
  ) {
    this.name = typeof queue === "string" ? queue : queue.name;
  }

  /** Adds one job, as `jobs.enqueue({ queue, name, payload, ...options })`. Returns its id. */
  enqueue<N extends JobName<Payloads>>(
    name: N,
    ...[payload, options]: EnqueueArguments<Payloads[N]>
  ): Promise<string> {
    return this.jobs.enqueue({ ...options, queue: this.name, name, payload });
  }

  /** Adds jobs in one statement, as `jobs.enqueue([...])`. Returns the ids in input order. */
  enqueueMany(jobs: readonly TypedEnqueueJob<Payloads>[]): Promise<string[]> {
    // Each is an EnqueueJob but the queue, which the compiler cannot see through the mapped type.
    const untyped = jobs as readonly Omit<EnqueueJob, "queue">[];
    return this.jobs.enqueue(untyped.map((job) => ({ ...job, queue: this.name })));
  }
}
