/**
 * A run's snapshot written (persistWorkflowSnapshot): one statement in the common case, shared with
 * the persists of other runs made at the same time (persist-batch.ts).
 * A transaction that takes the run's row lock first is used only when there is something to check or
 * put under it: big entries this process wrote that may be left unsent (sent-parts.ts), or entries
 * over the store's `limits.offloadAbove`, which go to the blob store (offloaded.ts).
 */

import { mergeWorkflowStepResult } from "@mastra/core/storage";
import type { StepResult, WorkflowRunState } from "@mastra/core/workflows";
import { uuidv7 } from "../../core/ids.js";
import { toJson } from "../../core/payload.js";
import type { StoreScope } from "../../index.js";
import { offloadParts, overLimit, releaseUnnamed, resolveEntries } from "./offloaded.js";
import { PersistBatches } from "./persist-batch.js";
import { runKey, type SplitSnapshot, staysInline } from "./runs.js";
import { type PartVersion, SentParts } from "./sent-parts.js";
import type { MastraTables } from "./tables.js";
import {
  lockRunSql,
  PREPARED,
  partVersionsSql,
  persistParams,
  persistSql,
  stepResultSql,
  storedEntrySql,
} from "./workflow-sql.js";

/** How many times a write retries when a run it found gone was made again meanwhile, or the reverse. */
export const WRITE_ATTEMPTS = 5;

export interface RunOf {
  workflowName: string;
  runId: string;
  resourceId: string | null;
  createdAt?: Date;
  updatedAt?: Date;
}

/** A new run was made by another writer while this one put its entries' blobs for its own id. */
class MadeMeanwhile extends Error {}

/** What every statement that writes a run takes of it (see persistParams). */
function runValues(key: string, run: RunOf, split: SplitSnapshot) {
  return {
    key,
    workflowName: run.workflowName,
    state: split.state,
    resourceId: run.resourceId,
    createdAt: run.createdAt ?? null,
    updatedAt: run.updatedAt ?? null,
    partIds: split.partIds,
  };
}

/**
 * Whether a write is the plain persist (persist-batch.ts): every entry small, none for the blob store,
 * the run written whether or not it exists.
 */
function isPlain(split: SplitSnapshot, limits: { offloadAbove?: number }, onlyNew: boolean): boolean {
  return split.partIds.length === 0 && limits.offloadAbove === undefined && !onlyNew;
}

/** A write that found the run made or deleted by another at each of its WRITE_ATTEMPTS. */
function keptChanging(run: RunOf): Error {
  return new Error(
    `run ${run.runId} of ${run.workflowName} kept being made and deleted while it was written`,
  );
}

type Written = { id: string; hadRefs?: boolean } & PartVersion;

/** A step's result written: its run's id and its context's entries in the state after (runs.ts). */
export interface StepWritten {
  id: string;
  inline: Record<string, unknown> | null;
  /** Whether the run may have context rows (none to read when false). */
  mayHaveRows: boolean;
}

export class RunWrites {
  /** The big context entries this process wrote last, not sent again unchanged (sent-parts.ts). */
  private readonly sent = new SentParts();
  /** Plain persists made at the same time, written together (made on first use). */
  private batches: PersistBatches | undefined;

  constructor(private readonly tables: MastraTables) {}

  /** Writes a run's split snapshot (see persistSql); `onlyNew` leaves a run that exists alone. */
  write(run: RunOf, split: SplitSnapshot, onlyNew = false): Promise<void> {
    const ready = this.tables.ready;
    if (ready && isPlain(split, ready.limits, onlyNew)) {
      // The plain persist (below) of a run of small entries, made at each step of every run: nothing
      // else to look at first, its first attempt's promise taken as it is (then(), not await).
      const key = runKey(run.workflowName, run.runId);
      return this.plain(ready.db, ready.q, key, run, split).then((written) =>
        written ? undefined : this.writeAgain(run, split, onlyNew, 1),
      );
    }
    return this.writeAgain(run, split, onlyNew, 0);
  }

  /**
   * write() from its start, or where its plain persist wrote nothing (the run made or deleted
   * meanwhile), `attempts` of its WRITE_ATTEMPTS made.
   */
  private async writeAgain(
    run: RunOf,
    split: SplitSnapshot,
    onlyNew: boolean,
    attempts: number,
  ): Promise<void> {
    const { db, q, limits } = this.tables.ready ?? (await this.tables.sql());
    const key = runKey(run.workflowName, run.runId);
    if (isPlain(split, limits, onlyNew)) {
      for (let attempt = attempts; attempt < WRITE_ATTEMPTS; attempt++) {
        if (await this.plain(db, q, key, run, split)) return;
      }
      throw keptChanging(run);
    }
    const big = SentParts.big(split.partIds, split.parts);
    const candidates = big.size > 0 ? this.sent.unchanged(key, big) : undefined;
    const over = overLimit(split.parts, limits.offloadAbove);
    const offloading = limits.offloadAbove !== undefined;
    const values = runValues(key, run, split);
    /** The statement, with the parts in `kept` left unsent (kept as stored). */
    const persist = (
      on: Pick<StoreScope, "query">,
      parts: readonly string[],
      kept: ReadonlySet<string>,
      newId: string,
    ) => {
      const sent = split.partIds.flatMap((partId, i) => (kept.has(partId) ? [] : [i]));
      return on.query<Written>(
        persistSql(q, big.size > 0, offloading),
        persistParams({
          ...values,
          newId,
          sentIds: sent.map((i) => split.partIds[i] as string),
          sentParts: sent.map((i) => parts[i] as string),
          versionIds: [...big.keys()],
          onlyNew,
        }),
        PREPARED,
      );
    };
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const newId = uuidv7();
      let rows: Written[];
      if ((candidates && candidates.parts.size > 0) || over.length > 0) {
        try {
          rows = await db.transaction(async (tx) => {
            // Under the run's lock: the rows this process wrote, checked as they are now, and the blobs.
            const locked = (await tx.query<{ id: string }>(lockRunSql(q), [key], PREPARED)).rows[0];
            let kept = new Set<string>();
            if (candidates && locked?.id === candidates.runId) {
              const stored = await tx.query<PartVersion>(
                partVersionsSql(q),
                [locked.id, [...candidates.parts.keys()]],
                PREPARED,
              );
              kept = SentParts.stillAsWritten(candidates.parts, stored.rows);
            }
            const id = locked?.id ?? newId;
            const toPut = over.filter((i) => !kept.has(split.partIds[i] as string));
            const parts = toPut.length ? await offloadParts(tx, q, id, split.parts, toPut) : split.parts;
            const { rows } = await persist(tx, parts, kept, newId);
            // Blobs put for an id that is not the run's: rolled back, not left for no run to remove.
            if (toPut.length && rows[0]?.id !== id) throw new MadeMeanwhile();
            if (rows[0] && offloading) await releaseUnnamed(tx, q, rows[0].id);
            return rows;
          });
        } catch (error) {
          if (error instanceof MadeMeanwhile) continue; // its blobs rolled back: the run is found now
          throw error;
        }
      } else if (big.size === 0 && !offloading && !onlyNew) {
        if (await this.plain(db, q, key, run, split)) return;
        continue;
      } else {
        rows = (await persist(db, split.parts, new Set(), newId)).rows;
        // Entries offloaded before and now replaced in their rows: their blobs go, under the lock.
        const id = rows[0]?.id;
        if (id && rows[0]?.hadRefs) await this.release(key, id);
      }
      const written = rows[0];
      if (written) {
        if (big.size > 0) this.sent.remember(key, written.id, big, rows);
        return;
      }
      if (onlyNew) return;
    }
    throw keptChanging(run);
  }

  /**
   * The plain persist: with others made meanwhile, in one statement (persist-batch.ts). It has no big
   * entries, so nothing of it to remember. Whether it was written.
   */
  private plain(
    db: Pick<StoreScope, "query">,
    q: string,
    key: string,
    run: RunOf,
    split: SplitSnapshot,
  ): Promise<boolean> {
    this.batches ??= new PersistBatches(db, q);
    return this.batches.persist({ ...runValues(key, run, split), parts: split.parts });
  }

  /**
   * Writes one step's result (`requestContext` merged into the run's), under the run's row lock: in the
   * run's state when it is small (runs.ts), else as a row. The run's id and its context's entries in the
   * state after, or undefined when the run is not stored. A foreach step's results are merged element
   * by element with those stored (Mastra's own merge), so that entry is read and written in a
   * transaction; so is a result over `limits.offloadAbove`, which goes to the blob store.
   */
  async stepResult(
    key: string,
    partId: string,
    stepId: string,
    result: StepResult<unknown, unknown, unknown, unknown>,
    requestContext: string,
  ): Promise<StepWritten | undefined> {
    const { db, q, limits } = await this.tables.sql();
    const offloading = limits.offloadAbove !== undefined;
    const merges = Array.isArray((result as { output?: unknown })?.output);
    const json = merges ? "" : toJson(result, "result", limits);
    // Small enough for the state alone; the SQL also holds the state's context within INLINE_TOTAL.
    const inline = (value: string) => staysInline(value, 0, limits.offloadAbove);
    if (!merges && overLimit([json], limits.offloadAbove).length === 0) {
      const { rows } = await db.query<StepWritten & { hadRef?: boolean }>(
        stepResultSql(q, offloading),
        [key, partId, json, requestContext, stepId, inline(json)],
        PREPARED,
      );
      const written = rows[0];
      // The entry was in the blob store: its blob goes, under the lock.
      if (written?.hadRef) await this.release(key, written.id);
      return written;
    }
    return db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string }>(lockRunSql(q), [key], PREPARED);
      const id = rows[0]?.id;
      if (!id) return undefined;
      let value = json;
      if (merges) {
        const stored = (
          await tx.query<{ value: unknown }>(storedEntrySql(q), [id, partId, stepId, key], PREPARED)
        ).rows;
        await resolveEntries(tx.blobs, stored);
        const before = stored[0]?.value;
        const snapshot = {
          context: before !== null && before !== undefined ? { [stepId]: before } : {},
        } as unknown as WorkflowRunState;
        mergeWorkflowStepResult({ snapshot, stepId, result, requestContext: {} });
        value = toJson((snapshot.context as Record<string, unknown>)[stepId], "result", limits);
      }
      // An entry in the blob store is a row: its reference is small, its value is not.
      const inlined = inline(value);
      if (overLimit([value], limits.offloadAbove).length) {
        value = (await offloadParts(tx, q, id, [value], [0]))[0] as string;
      }
      const written = await tx.query<StepWritten>(
        stepResultSql(q),
        [key, partId, value, requestContext, stepId, inlined],
        PREPARED,
      );
      if (offloading) await releaseUnnamed(tx, q, id);
      return written.rows[0];
    });
  }

  /** Removes the run's blobs no row names any more, under its row lock. */
  private release(key: string, id: string): Promise<void> {
    return this.tables.sql().then(({ db, q }) =>
      db.transaction(async (tx) => {
        await tx.query(lockRunSql(q), [key], PREPARED);
        await releaseUnnamed(tx, q, id);
      }),
    );
  }
}
