/**
 * Entries that gather while statements are in flight and go together in the next one: what the store's
 * write batches (write-batch.ts), the LangGraph saver's Combiner and the worker's Completer share. A
 * statement has a fixed cost (a round trip, a commit, a WAL flush) whatever it carries, so entries that
 * wait for one in flight cost one more statement between them, not one each.
 *
 * Batches holds the waiting entries, decides when another statement may start (how many may be in
 * flight, how many entries justify one beside another, a slot shared with other Batches), takes the
 * next batch within a row count, a byte size and a key rule, and hands it to its sender, which sends it
 * and settles each entry. An entry that is a caller waiting for an answer is a Call.
 *
 * Nothing here is made per entry beyond the entry itself: one batch is one array and one promise.
 */

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

export interface BatchesOptions<P> {
  /**
   * Sends one batch and settles each of its entries, its failures included. Should it reject (or throw)
   * all the same, the batch goes to `failed`.
   */
  send(batch: P[]): Promise<unknown>;
  /**
   * Settles the entries of a batch whose `send` rejected with `error`, or threw. By default each call
   * of the batch (see callIn) is refused with that error: one the sender answered first keeps its
   * answer, and none is left waiting.
   */
  failed?: (batch: P[], error: unknown) => void;
  /** Statements in flight at most; 1 unless told. */
  maxInFlight?: number;
  /**
   * With a statement in flight, how many entries must wait before another starts beside it (read each
   * time: it may change); any one does unless told.
   */
  overlapMin?: () => number;
  /** Taken before each statement starts and given back when it ends; Batches may share them. */
  slots?: StatementSlots;
  /** Entries added in one turn of the event loop go together: statements start at the turn's end. */
  gatherTurn?: boolean;
  /**
   * With gatherTurn, an entry that finds nothing in flight and nothing gathering starts a statement
   * once the code that added it yields (a microtask), not at the turn's end: a turn can last as long as
   * a promise chain runs, and LangGraph runs a whole graph's nodes in one, so a lone caller's first
   * write waited for all of them. Entries added meanwhile still gather, by turn, for the next statement.
   */
  soonWhenIdle?: boolean;
  /** A batch already holding this many rows takes no more (its last entry may take it past). */
  maxRows?: number;
  /** The rows an entry makes; 1 unless told. */
  rowsOf?: (entry: P) => number;
  /** A batch takes no entry that would take its bytes past this, unless it is the batch's first. */
  maxBytes?: number;
  bytesOf?: (entry: P) => number;
  /**
   * Two entries of one key never share a batch: the later waits for the next, and entries behind it
   * that fit may go before it. Without keys a batch keeps the order of arrival: the first entry that
   * does not fit ends it.
   */
  keyOf?: (entry: P) => string;
  /**
   * The rows an entry's statement locks until it commits (the LangGraph saver's: its thread's row). An
   * entry whose key a statement in flight holds waits for that statement to end (started beside it, it
   * would wait for that statement's commit on the lock, holding a connection, and then make a commit
   * of its own); when the statement that ends was the only one in flight, the waiting entries go at the
   * turn's end with whatever the answer's callers add.
   */
  heldKeyOf?: (entry: P) => string;
}

export class Batches<P> {
  private waiting: P[] = [];
  private inFlight = 0;
  /** Waiting for a slot: one wait at a time, so Batches sharing the slots take them in turn. */
  private asking = false;
  private scheduled = false;
  /** Callers of flushed(), woken whenever nothing is left in flight. */
  private readonly idle: (() => void)[] = [];
  private readonly send: (batch: P[]) => Promise<unknown>;
  private readonly failed: (batch: P[], error: unknown) => void;
  private readonly maxInFlight: number;
  private readonly overlapMin: (() => number) | undefined;
  private readonly slots: StatementSlots | undefined;
  private readonly gatherTurn: boolean;
  private readonly soonWhenIdle: boolean;
  private readonly maxRows: number;
  private readonly rowsOf: ((entry: P) => number) | undefined;
  private readonly maxBytes: number;
  private readonly bytesOf: ((entry: P) => number) | undefined;
  private readonly keyOf: ((entry: P) => string) | undefined;
  private readonly heldKeyOf: ((entry: P) => string) | undefined;
  /** With heldKeyOf: the keys of the statements in flight, each with how many hold it. */
  private readonly held = new Map<string, number>();
  /** No limit and no key: a batch is everything waiting. */
  private readonly takesAll: boolean;

  constructor(options: BatchesOptions<P>) {
    this.send = options.send;
    this.failed = options.failed ?? refuseCalls;
    this.maxInFlight = options.maxInFlight ?? 1;
    this.overlapMin = options.overlapMin;
    this.slots = options.slots;
    this.gatherTurn = options.gatherTurn ?? false;
    this.soonWhenIdle = options.soonWhenIdle ?? false;
    this.maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
    this.rowsOf = options.rowsOf;
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.bytesOf = options.bytesOf;
    this.keyOf = options.keyOf;
    this.heldKeyOf = options.heldKeyOf;
    this.takesAll =
      this.maxRows === Number.POSITIVE_INFINITY &&
      (this.maxBytes === Number.POSITIVE_INFINITY || this.bytesOf === undefined) &&
      this.keyOf === undefined &&
      this.heldKeyOf === undefined;
  }

  /** Waits for a batch, starting one now (or at the turn's end) if one may start. */
  add(entry: P): void {
    this.waiting.push(entry);
    if (!this.gatherTurn) this.start();
    else if (!this.scheduled) {
      this.scheduled = true;
      if (this.soonWhenIdle && this.inFlight === 0 && !this.asking) queueMicrotask(this.turnEnded);
      else setImmediate(this.turnEnded);
    }
  }

  /**
   * Runs `statement` at once, as a statement of its own in flight holding `heldKey` (what heldKeyOf gives
   * the entry it writes), when nothing is in flight, waiting or about to start; else runs nothing and
   * returns undefined (the caller adds the entry). What a lone caller saves: the gathering's turn and
   * the batch's making.
   */
  alone<T>(heldKey: string, statement: () => Promise<T>): Promise<T> | undefined {
    if (this.inFlight > 0 || this.waiting.length > 0 || this.asking || this.scheduled) return undefined;
    if (this.slots !== undefined && !this.slots.tryTake()) return undefined;
    this.inFlight++;
    const keys = this.heldKeyOf === undefined ? undefined : this.holdKeys([heldKey]);
    let running: Promise<T>;
    try {
      running = statement();
    } catch (error) {
      running = Promise.reject(error);
    }
    const ended = () => this.ended(keys);
    running.then(ended, ended);
    return running;
  }

  /** Waits for a batch without starting one: a statement in flight starts it as it ends. */
  addForNext(entry: P): void {
    this.waiting.push(entry);
  }

  /** True while entries wait or a statement is in flight. */
  get busy(): boolean {
    return this.inFlight > 0 || this.waiting.length > 0;
  }

  /** Resolves once every entry added so far has been sent and settled, and nothing is in flight. */
  async flushed(): Promise<void> {
    this.start();
    while (this.inFlight > 0 || this.waiting.length > 0) {
      await new Promise<void>((resolve) => this.idle.push(resolve));
    }
  }

  private readonly turnEnded = (): void => {
    this.scheduled = false;
    this.start();
  };

  private start(): void {
    while (!this.asking && this.mayStart()) {
      if (this.slots !== undefined && !this.slots.tryTake()) {
        this.asking = true;
        void this.slots.take().then(this.slotTaken);
        return;
      }
      this.sendNext();
    }
  }

  private mayStart(): boolean {
    const waiting = this.waiting.length;
    if (waiting === 0 || this.inFlight >= this.maxInFlight) return false;
    if (this.held.size > 0 && this.waiting.every((entry) => this.isHeld(entry))) return false;
    return this.inFlight === 0 || this.overlapMin === undefined || waiting >= this.overlapMin();
  }

  private readonly slotTaken = (): void => {
    this.asking = false;
    // The batch is made now, with the entries that came while it waited.
    this.sendNext();
    this.start();
  };

  private isHeld(entry: P): boolean {
    return this.heldKeyOf !== undefined && this.held.has(this.heldKeyOf(entry));
  }

  private sendNext(): void {
    const batch = this.take();
    this.inFlight++;
    const keys = this.hold(batch);
    let sending: Promise<unknown>;
    try {
      sending = this.send(batch);
    } catch (error) {
      sending = Promise.reject(error);
    }
    const ended = () => this.ended(keys);
    sending.then(ended, (error: unknown) => {
      try {
        this.failed(batch, error);
      } finally {
        ended();
      }
    });
  }

  /** Marks the keys of a batch held while it is in flight; returns them, to let go of as it ends. */
  private hold(batch: P[]): string[] | undefined {
    const { heldKeyOf } = this;
    return heldKeyOf === undefined ? undefined : this.holdKeys([...new Set(batch.map(heldKeyOf))]);
  }

  private holdKeys(keys: string[]): string[] {
    for (const key of keys) this.held.set(key, (this.held.get(key) ?? 0) + 1);
    return keys;
  }

  private ended(keys: string[] | undefined): void {
    this.inFlight--;
    this.slots?.give();
    if (keys !== undefined) {
      for (const key of keys) {
        const count = (this.held.get(key) ?? 1) - 1;
        if (count > 0) this.held.set(key, count);
        else this.held.delete(key);
      }
    }
    // With nothing else in flight (a caller alone: a graph run alone and its chain of puts), the calls
    // that waited on these keys go with those the answer's callers make in this turn, the next put;
    // with other statements in flight, as before, at once.
    if (keys !== undefined && this.inFlight === 0) {
      if (this.waiting.length > 0 && !this.scheduled) {
        this.scheduled = true;
        setImmediate(this.turnEnded);
      }
    } else this.start();
    if (this.inFlight === 0 && this.idle.length > 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  /** The next batch, in order of arrival, within maxRows, maxBytes and the key rule; never empty. */
  private take(): P[] {
    const waiting = this.waiting;
    if (this.takesAll) {
      this.waiting = [];
      return waiting;
    }
    const { maxRows, maxBytes, rowsOf, bytesOf, keyOf, held } = this;
    const keys = keyOf === undefined ? undefined : new Set<string>();
    const batch: P[] = [];
    const rest: P[] = [];
    let rows = 0;
    let bytes = 0;
    let i = 0;
    for (; i < waiting.length; i++) {
      if (rows >= maxRows && batch.length > 0) break;
      const entry = waiting[i] as P;
      if (held.size > 0 && this.isHeld(entry)) {
        rest.push(entry);
        continue;
      }
      const size = bytesOf === undefined ? 0 : bytesOf(entry);
      if (batch.length > 0 && bytes + size > maxBytes) {
        if (keys === undefined) break;
        rest.push(entry);
        continue;
      }
      if (keys !== undefined) {
        const key = (keyOf as (entry: P) => string)(entry);
        if (keys.has(key)) {
          rest.push(entry);
          continue;
        }
        keys.add(key);
      }
      batch.push(entry);
      rows += rowsOf === undefined ? 1 : rowsOf(entry);
      bytes += size;
    }
    this.waiting = rest.length === 0 ? waiting.slice(i) : rest.concat(waiting.slice(i));
    return batch;
  }
}

/** A caller waiting in a batch for its answer. */
export interface Call<I, R> {
  readonly input: I;
  /** About how many bytes the input adds to its statement. */
  readonly bytes: number;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/** A call made by callIn: what a batch whose sender failed refuses by default. */
class PendingCall<I, R> implements Call<I, R> {
  constructor(
    readonly input: I,
    readonly bytes: number,
    readonly resolve: (result: R) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

/** Adds a call to `batches`; it settles as the sender of its batch settles it. */
export function callIn<I, R>(batches: Batches<Call<I, R>>, input: I, bytes: number): Promise<R> {
  return new Promise<R>((resolve, reject) => batches.add(new PendingCall(input, bytes, resolve, reject)));
}

/** Batches' default `failed`: refuses each call of the batch (a settled promise ignores it). */
function refuseCalls(batch: readonly unknown[], error: unknown): void {
  for (const entry of batch) if (entry instanceof PendingCall) entry.reject(error);
}

export function bytesOfCall<I, R>(call: Call<I, R>): number {
  return call.bytes;
}

/** Resolves each call of a batch with its result, in order. */
export function answer<I, R>(batch: readonly Call<I, R>[], results: ArrayLike<R>): void {
  for (let i = 0; i < batch.length; i++) (batch[i] as Call<I, R>).resolve(results[i] as R);
}

export function refuse<I, R>(batch: readonly Call<I, R>[], error: unknown): void {
  for (const call of batch) call.reject(error);
}
