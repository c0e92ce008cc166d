/**
 * Persists of different runs made at the same time, written by few statements and commits. Mastra's
 * default engine persists the whole snapshot after every step of every run, so a process running
 * many workflows sends a stream of small persists; each costs a round trip, a statement's start and a
 * WAL flush at commit whatever it carries. Here the persists that arrive while statements are in flight
 * wait and go together (core/batches.ts, as the LangGraph saver's writes do), by one statement for many
 * runs (persistBatchSql). Each still has every effect its own statement (persistSql) would have, rows
 * written only where they changed, entries gone deleted, runs made with their key. Two persists of one
 * run never share a statement, nor run beside each other (the later
 * waits for the statement writing the earlier to end), and a statement that fails is run again one
 * persist at a time, so a bad one fails alone.
 *
 * Only the plain persist goes here: one whose entries are all sent and none goes to the blob store.
 * The others (sent-parts.ts, offloaded.ts) take the run's lock first, in a transaction of their own.
 */

import { Batches, type Call, callIn } from "../../core/batches.js";
import { uuidv7 } from "../../core/ids.js";
import type { StoreScope } from "../../index.js";
import { jsonArray, persistBatchSql, plainPersistManySql, plainUpdateManySql } from "./persist-many-sql.js";
import {
  makeRunSql,
  type PlainPersist,
  PREPARED,
  persistParams,
  persistSql,
  plainUpdateSql,
} from "./workflow-sql.js";

/** Statements in flight at once: persists that arrive meanwhile wait for the next. */
const IN_FLIGHT = 2;
/** Entries a statement takes at most (a persist's first entry may take it past). */
const MAX_ROWS = 2_000;
/** About this many bytes of values a statement takes at most (a persist alone may pass it). */
const MAX_BYTES = 8 * 1024 * 1024;

/**
 * Runs this process remembers writing, at most: a run's later persists update its row alone (see
 * KnownRuns). Mastra persists a run after each of its steps, so a run in progress is written again
 * within seconds; a run forgotten is only written by the statement that may also make it.
 */
const KNOWN_RUNS = 4_096;

/**
 * The keys of runs this process wrote last (plain persists, no context rows then). Knowing one only
 * picks the statement tried first: an update of the run's row, which costs less than an insert that
 * finds the row there; where the run is gone meanwhile (deleted by another process) or has context
 * rows now, the update writes nothing and the persist goes on as for a run never seen.
 */
class KnownRuns {
  private readonly keys = new Set<string>();

  has(key: string): boolean {
    return this.keys.has(key);
  }

  add(key: string): void {
    if (this.keys.has(key)) return;
    if (this.keys.size >= KNOWN_RUNS) this.keys.delete(this.keys.values().next().value as string);
    this.keys.add(key);
  }

  delete(key: string): void {
    this.keys.delete(key);
  }
}

/** A write of persists whose first statement committed (`written`, their keys) and second failed. */
class PartlyWritten extends Error {
  constructor(
    readonly written: ReadonlySet<string>,
    cause: unknown,
  ) {
    super("persists written in part", { cause });
  }
}

export class PersistBatches {
  private readonly batches: Batches<Call<PlainPersist, boolean>>;
  private readonly known = new KnownRuns();
  /** The statements of a persist alone, made once here: one is sent at every step of every run. */
  private readonly makeSql: string;
  private readonly updateSql: string;

  constructor(
    private readonly db: Pick<StoreScope, "query">,
    private readonly q: string,
  ) {
    this.makeSql = makeRunSql(q);
    this.updateSql = plainUpdateSql(q);
    this.batches = new Batches({
      send: (batch) => this.send(batch),
      maxInFlight: IN_FLIGHT,
      gatherTurn: true,
      // A lone caller's persist goes as soon as its code yields, not at the turn's end (a wait each
      // call pays for nothing to gather); persists made while statements are in flight still gather.
      soonWhenIdle: true,
      maxRows: MAX_ROWS,
      rowsOf: (call) => call.input.parts.length + 1,
      maxBytes: MAX_BYTES,
      bytesOf: (call) => call.bytes,
      keyOf: (call) => call.input.key,
      // A later persist of a run waits for the statement in flight that writes the run: started beside
      // it, a shorter statement could take the run's rows first and be overwritten by the earlier one.
      heldKeyOf: (call) => call.input.key,
    });
  }

  /** Writes the persist; resolves once committed, with whether it was written (see persistSql). */
  persist(persist: PlainPersist): Promise<boolean> {
    // A persist made alone goes at once, its own statement, the run's key held until it ends: a later
    // persist of the run waits for all of it.
    const alone = this.batches.alone(persist.key, () => this.writeOne(persist));
    return alone ?? this.batched(persist);
  }

  private batched(persist: PlainPersist): Promise<boolean> {
    let bytes = persist.state.length;
    for (const part of persist.parts) bytes += part.length;
    return callIn(this.batches, persist, bytes);
  }

  private async send(batch: Call<PlainPersist, boolean>[]): Promise<void> {
    let left = batch;
    try {
      const written = await this.write(batch.map((call) => call.input));
      for (const [i, call] of batch.entries()) call.resolve(written[i] as boolean);
      return;
    } catch (error) {
      // Those a first statement wrote before a second failed are done; the others go on below.
      if (error instanceof PartlyWritten) {
        left = batch.filter((call) => !error.written.has(call.input.key));
        for (const call of batch) {
          if (error.written.has(call.input.key)) call.resolve(true);
        }
      }
      // Alone, a persist fails with its statement's error (a persist alone is never written in part).
      if (batch.length === 1) {
        (batch[0] as Call<PlainPersist, boolean>).reject(error);
        return;
      }
    }
    // Which persist failed is unknown: each goes again alone, and fails (or not) on its own.
    for (const call of left) {
      await this.write([call.input]).then((written) => call.resolve(written[0] as boolean), call.reject);
    }
  }

  /**
   * A persist alone: the run's row alone (makeRunSql, plainUpdateSql), or where the run may have context
   * rows, which those leave, persistSql. Whether it was written.
   */
  private writeOne(p: PlainPersist): Promise<boolean> {
    if (p.parts.length > 0) return this.writeOneWithRows(p);
    // A run this process wrote is most likely there still, any other most likely new: the likelier
    // statement goes first, the other only where it wrote nothing. Whether each wrote is its row
    // count: no row sent back, which a caller alone would wait on. Written with one then(), not await:
    // each persist alone comes this way, and each promise between costs it a turn of the queue.
    const known = this.known.has(p.key);
    return (known ? this.update(p) : this.make(p)).then((result) =>
      wroteRow(result) ? this.remember(p.key) : this.writeOneElse(p, known),
    );
  }

  /** writeOne's persist where its likelier statement wrote nothing: the other, then persistSql. */
  private async writeOneElse(p: PlainPersist, known: boolean): Promise<boolean> {
    if (wroteRow(await (known ? this.make(p) : this.update(p)))) return this.remember(p.key);
    this.known.delete(p.key);
    return this.writeOneWithRows(p);
  }

  private async writeOneWithRows(p: PlainPersist): Promise<boolean> {
    return (await this.writeWithRows([p]))[0] === true;
  }

  /** Makes the run, counted (makeRunSql); it wrote no row where the run exists. */
  private make(p: PlainPersist): Promise<{ rowCount: number }> {
    return this.db.query(this.makeSql, runParams(p), PREPARED);
  }

  /** Writes the run's row in place (plainUpdateSql); no row where it is not there or may have rows. */
  private update(p: PlainPersist): Promise<{ rowCount: number }> {
    return this.db.query(this.updateSql, updateParams(p), PREPARED);
  }

  /** Notes a run this process wrote, whose next persist updates its row first. */
  private remember(key: string): true {
    this.known.add(key);
    return true;
  }

  /** Whether each persist was written (see persistSql). */
  private async write(persists: PlainPersist[]): Promise<boolean[]> {
    if (persists.length === 1) return [await this.writeOne(persists[0] as PlainPersist)];
    return persists.every((p) => p.parts.length === 0)
      ? this.writeSmall(persists)
      : this.writeWithRows(persists);
  }

  /** Persists of any kind, by persistSql alone or by the statement for many runs. */
  private async writeWithRows(persists: PlainPersist[]): Promise<boolean[]> {
    // Alone, the persist's own statement: shorter to run than the batch's for one run.
    if (persists.length === 1) {
      const p = persists[0] as PlainPersist;
      const values = {
        ...p,
        newId: uuidv7(),
        sentIds: p.partIds,
        sentParts: p.parts,
        versionIds: [],
        onlyNew: false,
      };
      const { rows } = await this.db.query<{ id: string }>(
        persistSql(this.q, false),
        persistParams(values),
        PREPARED,
      );
      return [rows[0] !== undefined];
    }
    const partOf: number[] = [];
    const partIds: string[] = [];
    const parts: string[] = [];
    persists.forEach((p, n) => {
      p.partIds.forEach((id, i) => {
        partOf.push(n + 1);
        partIds.push(id);
        parts.push(p.parts[i] as string);
      });
    });
    const { rows } = await this.db.query<{ n: string; id: string | null }>(
      persistBatchSql(this.q),
      [...columnsOf(persists, runParams, RUN_STATE), partOf, partIds, jsonArray(parts)],
      PREPARED,
    );
    const written = new Set(rows.filter((row) => row.id !== null).map((row) => Number(row.n)));
    return persists.map((_, i) => written.has(i + 1));
  }

  /**
   * Persists of several runs whose entries are all in the state: the rows of runs this process wrote
   * updated (plainUpdateManySql), the other runs made or updated (plainPersistManySql), and those of
   * runs that may have context rows, which both leave, by the statement that deletes them.
   */
  private async writeSmall(persists: PlainPersist[]): Promise<boolean[]> {
    const written = new Set<string>();
    const plainly = (rows: { key: string }[]) => {
      for (const { key } of rows) {
        written.add(key);
        this.remember(key);
      }
    };
    const known = persists.filter((p) => this.known.has(p.key));
    if (known.length > 0) {
      known.sort((a, b) => (a.key < b.key ? -1 : 1));
      const columns = columnsOf(known, updateParams, UPDATE_STATE);
      const updated = await this.db.query<{ key: string }>(plainUpdateManySql(this.q), columns, PREPARED);
      plainly(updated.rows);
    }
    try {
      const rest = persists.filter((p) => !written.has(p.key));
      if (rest.length > 0) {
        const made = await this.db.query<{ key: string }>(
          plainPersistManySql(this.q),
          columnsOf(rest, runParams, RUN_STATE),
          PREPARED,
        );
        plainly(made.rows);
      }
      const left = persists.filter((p) => !written.has(p.key));
      if (left.length > 0) {
        const done = await this.writeWithRows(left);
        left.forEach((p, i) => {
          if (done[i]) written.add(p.key);
        });
      }
    } catch (error) {
      // A statement before committed: its persists must not be written again.
      throw written.size > 0 ? new PartlyWritten(written, error) : error;
    }
    return persists.map((p) => written.has(p.key));
  }
}

/** Whether a statement wrote (a row count of one or more). */
const wroteRow = (result: { rowCount: number }): boolean => result.rowCount > 0;

/**
 * A run's values as makeRunSql takes them, $1 to $7: key, new id, workflow, state, resourceId,
 * createdAt, updatedAt.
 */
function runParams(p: PlainPersist): unknown[] {
  return [p.key, uuidv7(), p.workflowName, p.state, p.resourceId, p.createdAt, p.updatedAt];
}

/** A run's values as plainUpdateSql takes them, $1 to $4: key, state, resourceId, updatedAt. */
function updateParams(p: PlainPersist): unknown[] {
  return [p.key, p.state, p.resourceId, p.updatedAt];
}

/** Where runParams and updateParams put the run's state. */
const RUN_STATE = 3;
const UPDATE_STATE = 1;

/**
 * The runs' values as the statements for many runs take them: `params`' of each, an array each, the
 * states (at `state`) one JSON array (jsonArray).
 */
function columnsOf(
  persists: readonly PlainPersist[],
  params: (p: PlainPersist) => unknown[],
  state: number,
): unknown[] {
  const rows = persists.map(params);
  return (rows[0] ?? []).map((_, i) => {
    const column = rows.map((row) => row[i]);
    return i === state ? jsonArray(column as string[]) : column;
  });
}
