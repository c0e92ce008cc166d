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
 * Every statement also takes one of its store's StatementSlots, shared by all the savers of the store,
 * before it asks the pool for a connection. A statement of large values holds its connection for a
 * second or more; sixteen savers with four statements each in flight asked a pool of ten for more than
 * it had, and those that waited longer than the pool's connectionTimeoutMs failed their graph's run.
 * Waiting for a slot has no deadline, and calls that arrive meanwhile join the statement that waits.
 */

import { approximateBytes, BATCH_BYTES } from "../../core/write-batch.js";

interface Pending<Item, Result> {
  item: Item;
  bytes: number;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/** Statements in flight at once: each takes a slot, and those beyond the size wait, in turn. */
export class StatementSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  /** A slot now, if one is free and none is waited for. */
  tryTake(): boolean {
    if (this.free <= 0 || this.waiting.length > 0) return false;
    this.free--;
    return true;
  }

  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

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
  private queue: Pending<Item, Result>[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** Waiting for a slot: one wait at a time, so savers sharing the slots take them in turn. */
  private asking = false;

  constructor(
    /** Runs the calls in one statement; returns their results in order. */
    private readonly run: (items: Item[]) => Promise<Result[]>,
    private readonly maxInFlight: number,
    /** How much of a statement a call takes (rows); a statement takes calls up to `maxSize`. */
    private readonly sizeOf: (item: Item) => number,
    private readonly maxSize: number,
    /** About how many bytes of values a call brings; a statement takes calls up to `maxBytes`. */
    private readonly bytesOf: (item: Item) => number = approximateBytes,
    private readonly maxBytes = BATCH_BYTES,
    private readonly slots = new StatementSlots(Number.POSITIVE_INFINITY),
  ) {}

  call(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, bytes: this.bytesOf(item), resolve, reject });
      // Sent after the current turn of the event loop, so the calls made in it go together.
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.drain();
        });
      }
    });
  }

  private drain(): void {
    while (!this.asking && this.inFlight < this.maxInFlight && this.queue.length > 0) {
      if (!this.slots.tryTake()) {
        this.asking = true;
        void this.slots.take().then(() => {
          this.asking = false;
          // The batch is made now, with the calls that came while it waited.
          this.start();
          this.drain();
        });
        return;
      }
      this.start();
    }
  }

  /** Sends the calls that fit in one statement, on a slot already taken. */
  private start(): void {
    let size = 0;
    let bytes = 0;
    let taken = 0;
    while (taken < this.queue.length) {
      const next = this.queue[taken] as Pending<Item, Result>;
      if (taken > 0 && (size >= this.maxSize || bytes + next.bytes > this.maxBytes)) break;
      size += this.sizeOf(next.item);
      bytes += next.bytes;
      taken++;
    }
    const batch = this.queue.splice(0, taken);
    this.inFlight++;
    void this.send(batch).finally(() => {
      this.inFlight--;
      this.slots.give();
      this.drain();
    });
  }

  private async send(batch: Pending<Item, Result>[]): Promise<void> {
    try {
      const results = await this.run(batch.map((pending) => pending.item));
      batch.forEach((pending, i) => {
        pending.resolve(results[i] as Result);
      });
    } catch (error) {
      if (batch.length === 1) {
        (batch[0] as Pending<Item, Result>).reject(error);
        return;
      }
      // Which call failed is unknown: each goes again alone, and fails (or not) on its own, one after
      // the other on the statement's slot.
      for (const pending of batch) {
        await this.run([pending.item]).then(
          (results) => pending.resolve(results[0] as Result),
          pending.reject,
        );
      }
    }
  }
}
