/**
 * Persists of different runs made at the same time, written by few statements and commits. Mastra's
 * default engine persists the whole snapshot after every step of every run, so a process running
 * many workflows sends a stream of small persists; each costs a round trip, a statement's start and a
 * WAL flush at commit whatever it carries. Here the persists that arrive while statements are in flight
 * wait and go together (core/batches.ts, as the LangGraph saver's writes do): the steps of runs this
 * process knows (most of them) by one update in their partition (in-partition.ts), the rest by one
 * statement for many runs (persistBatchSql). Each still has every effect its own statement
 * (persistSql) would have, rows written only where they changed, entries gone deleted, runs made with
 * their key. Two persists of one run never share a statement, nor run beside each other (the later
 * waits for the statement writing the earlier to end), and a statement that fails is run again one
 * persist at a time, so a bad one fails alone.
 *
 * Only the plain persist goes here: one whose entries are all sent and none goes to the blob store.
 * The others (sent-parts.ts, offloaded.ts) take the run's lock first, in a transaction of their own.
 */

import { Batches, type Call, callIn } from "../../core/batches.js";
import { TERMINAL_SQL } from "../../core/run-status.js";
import type { StoreScope } from "../../index.js";
import type { DirectPartitions } from "../../partitions/index.js";
import { persistInPartition, updateManyInPartitions } from "./in-partition.js";
import { type PlainPersist, persistParams, persistSql } from "./workflow-sql.js";

/** Statements in flight at once: persists that arrive meanwhile wait for the next. */
const IN_FLIGHT = 2;
/** Entries a statement takes at most (a persist's first entry may take it past). */
const MAX_ROWS = 2_000;
/** About this many bytes of values a statement takes at most (a persist alone may pass it). */
const MAX_BYTES = 8 * 1024 * 1024;

export class PersistBatches {
  private readonly batches: Batches<Call<PlainPersist, string | undefined>>;

  constructor(
    private readonly db: Pick<StoreScope, "query">,
    private readonly q: string,
    private readonly direct: DirectPartitions | undefined,
  ) {
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

  /** Writes the persist; resolves with its run's id once committed, or undefined (see persistSql). */
  persist(persist: PlainPersist): Promise<string | undefined> {
    // A known run's persist made alone goes at once, its own statement (write's, in its partition
    // first), the run's key held until it ends: a later persist of the run waits for all of it.
    if (this.direct !== undefined && persist.knownId !== undefined && persist.parts.length === 0) {
      const alone = this.batches.alone(persist.key, async () => (await this.write([persist]))[0]);
      if (alone) return alone;
    }
    return this.batched(persist);
  }

  private batched(persist: PlainPersist): Promise<string | undefined> {
    let bytes = persist.state.length + persist.metadata.length;
    for (const part of persist.parts) bytes += part.length;
    return callIn(this.batches, persist, bytes);
  }

  private async send(all: Call<PlainPersist, string | undefined>[]): Promise<void> {
    const batch = await this.sendKnown(all);
    if (batch.length === 0) return;
    try {
      const ids = await this.write(batch.map((call) => call.input));
      for (const [i, call] of batch.entries()) call.resolve(ids[i]);
    } catch (error) {
      if (batch.length === 1) {
        (batch[0] as Call<PlainPersist, string | undefined>).reject(error);
        return;
      }
      // Which persist failed is unknown: each goes again alone, and fails (or not) on its own.
      for (const call of batch) {
        await this.write([call.input]).then((ids) => call.resolve(ids[0]), call.reject);
      }
    }
  }

  /**
   * The persists of runs this process knows, with no entry in rows, written in their partitions by one
   * statement (updateManyInPartitions) when the batch has others: each done is resolved. Returns those
   * left, for persistSql: those it did not write (a statement that failed wrote none of its own).
   */
  private async sendKnown(
    batch: Call<PlainPersist, string | undefined>[],
  ): Promise<Call<PlainPersist, string | undefined>[]> {
    const known = batch.filter((call) => call.input.knownId !== undefined && call.input.parts.length === 0);
    // Alone, a persist goes its own way (write), in its partition too.
    if (!this.direct || known.length === 0 || batch.length < 2) return batch;
    let ids: (string | undefined)[];
    try {
      ids = await updateManyInPartitions(
        this.db,
        this.direct,
        known.map((call) => call.input),
      );
    } catch {
      // The partitions' ranges could not be read: no statement was sent.
      return batch;
    }
    known.forEach((call, i) => {
      if (ids[i] !== undefined) call.resolve(ids[i]);
    });
    const done = new Set(known.filter((_, i) => ids[i] !== undefined));
    return batch.filter((call) => !done.has(call));
  }

  private async write(persists: PlainPersist[]): Promise<(string | undefined)[]> {
    // Alone, the persist's own statement: shorter to run than the batch's for one run.
    if (persists.length === 1) {
      const p = persists[0] as PlainPersist;
      const direct = this.direct && (await persistInPartition(this.db, this.q, this.direct, p));
      if (direct) return [direct];
      const values = { ...p, sentIds: p.partIds, sentParts: p.parts, versionIds: [], onlyNew: false };
      const byId = p.knownId !== undefined;
      const { rows } = await this.db.query<{ id: string }>(
        persistSql(this.q, false, false, byId),
        persistParams(values),
        { prepare: true },
      );
      return [rows[0]?.id];
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
      [
        persists.map((p) => p.key),
        persists.map((p) => p.newId),
        persists.map((p) => p.workflowName),
        persists.map((p) => p.status),
        persists.map((p) => p.state),
        persists.map((p) => p.metadata),
        persists.map((p) => p.createdAt),
        persists.map((p) => p.updatedAt),
        persists.map((p) => p.definitionId),
        partOf,
        partIds,
        parts,
      ],
      { prepare: true },
    );
    const ids = new Map(rows.map((row) => [Number(row.n), row.id ?? undefined]));
    return persists.map((_, i) => ids.get(i + 1));
  }
}

/**
 * persistSql for many runs ($1 to $9 one element per run, in the order of the calls: key, new id,
 * name, status, state, metadata, createdAt, updatedAt, definition; $10 to $12 one per entry: its run's
 * number in that order, its id, its value). The resource id, when given, is in the run's metadata, and
 * set from there on a run that exists. Returns each run's number and id; a null id where a writer of
 * the same new run made its key after this statement began (the caller runs that persist again).
 * Rows are taken in key order, as every write of runs takes them.
 */
function persistBatchSql(q: string): string {
  return `with input as materialized (
      select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::timestamptz[], $8::timestamptz[], $9::uuid[]) with ordinality
        as i(key, new_id, name, status, state, metadata, created_at, updated_at, definition_id, n)),
    made as (
      insert into ${q}.execution_keys (idempotency_key, execution_id)
      select key, new_id from input order by key
      on conflict (idempotency_key) do nothing
      returning idempotency_key, execution_id),
    keyed as materialized (
      select i.*, coalesce((select m.execution_id from made m where m.idempotency_key = i.key),
        (select k.execution_id from ${q}.execution_keys k where k.idempotency_key = i.key offset 0)) as id
      from input i),
    written as (
      insert into ${q}.executions as e (id, definition_id, name, status, state, metadata, idempotency_key,
        created_at, updated_at, started_at, completed_at)
      select k.id, k.definition_id, k.name, k.status, k.state::jsonb, k.metadata::jsonb, k.key,
        coalesce(k.created_at, now()), coalesce(k.updated_at, now()),
        case when k.status = 'running' then now() end,
        case when k.status in ${TERMINAL_SQL} then now() end
      from keyed k where k.id is not null order by k.key
      on conflict (id) do update set status = excluded.status, state = excluded.state,
        metadata = case when excluded.metadata #> '{mastra,resourceId}' is null then e.metadata
                        else jsonb_set(e.metadata, '{mastra,resourceId}', excluded.metadata #> '{mastra,resourceId}') end,
        updated_at = excluded.updated_at, version = e.version + 1,
        started_at = coalesce(e.started_at, excluded.started_at),
        completed_at = case when excluded.status in ${TERMINAL_SQL} then coalesce(e.completed_at, excluded.completed_at) end
      returning e.id),
    entries as materialized (
      select k.id as execution_id, p.id as component_id, p.state
      from unnest($10::bigint[], $11::text[], $12::text[]) as p(n, id, state)
      join keyed k on k.n = p.n
      where k.id in (select id from written)),
    parts as (
      insert into ${q}.component_state as c (execution_id, component_id, state)
      select execution_id, component_id, state::jsonb from entries order by 1, 2
      on conflict (execution_id, component_id) do update
        set state = excluded.state, version = c.version + 1, updated_at = excluded.updated_at
        where c.state is distinct from excluded.state),
    -- The runs' rows through the index, however many runs the generic plan guesses the arrays hold.
    gone as (
      delete from ${q}.component_state c
      where c.execution_id = any(array(select id from written))
        and not exists (select 1 from entries x where x.execution_id = c.execution_id and x.component_id = c.component_id))
    select k.n, w.id from keyed k left join written w on w.id = k.id`;
}
