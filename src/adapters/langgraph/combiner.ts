/**
 * Calls combined into statements, as DataLoader batches loads: the calls made in one turn of the event
 * loop go together, and while `maxInFlight` statements are running, those that arrive wait and go
 * together in the next one. A process running many graphs thus sends one statement (and, for writes,
 * one commit) for many calls, while a caller alone waits only for the end of the turn. Each call
 * resolves when the statement holding it has completed (committed). A statement that fails is run
 * again one call at a time, so a bad call fails alone.
 *
 * A statement also takes calls up to about BATCH_BYTES of values, however few rows they make, as the
 * store's own write batches do: its arrays travel as text (on PGlite, bytes in hex too), and past a
 * few hundred megabytes no JavaScript string holds them. Such a statement would fail before it was
 * sent, and each of its calls would go again alone, costing the whole work twice.
 *
 * Every statement also takes one of its store's StatementSlots (core/batches.ts), shared by all its savers,
 * before it asks the pool for a connection. A statement of large values holds its connection for a
 * second or more; sixteen savers with four statements each in flight asked a pool of ten for more than
 * it had, and those that waited longer than the pool's connectionTimeoutMs failed their graph's run.
 * Waiting for a slot has no deadline, and calls that arrive meanwhile join the statement that waits.
 */

import { answer, Batches, bytesOfCall, type Call, callIn, StatementSlots } from "../../core/batches.js";
import { approximateBytes, BATCH_BYTES } from "../../core/write-batch.js";

export { StatementSlots };

const slotsOfStores = new WeakMap<object, StatementSlots>();

/** The slots of one store (by its driver), made with `size` by the first saver that asks. */
export function storeSlots(store: object, size: number): StatementSlots {
  let slots = slotsOfStores.get(store);
  if (!slots) {
    slots = new StatementSlots(size);
    slotsOfStores.set(store, slots);
  }
  return slots;
}

export class Combiner<Item, Result> {
  /** Calls in arrival order, up to `maxSize` rows and `maxBytes`: a batch never passes a call over. */
  private readonly batches: Batches<Call<Item, Result>>;

  constructor(
    /** Runs the calls in one statement; returns their results in order. */
    private readonly run: (items: Item[]) => Promise<Result[]>,
    maxInFlight: number,
    /** How much of a statement a call takes (rows); a statement takes calls up to `maxSize`. */
    sizeOf: (item: Item) => number,
    maxSize: number,
    /** About how many bytes of values a call brings; a statement takes calls up to `maxBytes`. */
    private readonly bytesOf: (item: Item) => number = approximateBytes,
    maxBytes = BATCH_BYTES,
    slots?: StatementSlots,
    /** The row a call's statement locks until it commits (see BatchesOptions.heldKeyOf). */
    heldKeyOf?: (item: Item) => string,
  ) {
    this.batches = new Batches({
      send: (batch) => this.send(batch),
      maxInFlight,
      slots,
      // Sent after the current turn of the event loop, so the calls made in it go together.
      gatherTurn: true,
      // A graph run alone would otherwise send its first put only once all its nodes had run.
      soonWhenIdle: true,
      maxRows: maxSize,
      rowsOf: (call) => sizeOf(call.input),
      maxBytes,
      bytesOf: bytesOfCall,
      heldKeyOf: heldKeyOf && ((call) => heldKeyOf(call.input)),
    });
  }

  call(item: Item): Promise<Result> {
    return callIn(this.batches, item, this.bytesOf(item));
  }

  private async send(batch: Call<Item, Result>[]): Promise<void> {
    try {
      answer(batch, await this.run(batch.map((call) => call.input)));
    } catch (error) {
      if (batch.length === 1) {
        (batch[0] as Call<Item, Result>).reject(error);
        return;
      }
      // Which call failed is unknown: each goes again alone, and fails (or not) on its own, one after
      // the other on the statement's slot.
      for (const call of batch) {
        await this.run([call.input]).then((results) => call.resolve(results[0] as Result), call.reject);
      }
    }
  }
}
