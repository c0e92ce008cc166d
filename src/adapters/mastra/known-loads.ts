/**
 * Loads of runs this process knows (by their ids) made at the same time, read together: one statement
 * in the partition that holds them (loadManyInPartitionSql) in place of one each. A load's own
 * statement costs the process more than the run it reads: the socket's write, the driver's making of
 * the query and the reading of its answer. A load made while nothing is in flight goes at once, alone
 * (loadInPartitionSql), as it would without this; loads made while statements are in flight gather for
 * the next. Only the first read of a load goes here: a run that may have context rows is read again
 * with them, on its own (workflows.ts).
 */

import { Batches, type Call, callIn } from "../../core/batches.js";
import type { StoreScope } from "../../index.js";
import { type DirectPartitions, EXECUTIONS } from "../../partitions/index.js";
import { PREPARED } from "./run-writes.js";
import type { RunRow } from "./runs.js";
import { loadInPartitionSql, once } from "./workflow-sql.js";

/** Statements in flight at once: loads that arrive meanwhile wait for the next. */
const IN_FLIGHT = 2;
/** Loads a statement takes at most. */
const MAX_ROWS = 500;

/** A load of a run: its key, and its id as this process knows it. */
interface KnownLoad {
  key: string;
  id: string;
}

type LoadCall = Call<KnownLoad, RunRow | undefined>;

export class KnownLoads {
  private readonly batches: Batches<LoadCall>;

  constructor(
    private readonly db: Pick<StoreScope, "query">,
    private readonly direct: DirectPartitions,
  ) {
    this.batches = new Batches({
      send: (batch) => this.send(batch),
      maxInFlight: IN_FLIGHT,
      gatherTurn: true,
      soonWhenIdle: true,
      maxRows: MAX_ROWS,
      // Two loads of one run never share a statement: each gets a row of its own to give its caller.
      keyOf: (call) => call.input.key,
    });
  }

  /**
   * The run's id and state, read in the partition that holds it; undefined when it is not there (the
   * key names another run now, or the map of partitions is stale): the caller reads it through
   * executions.
   */
  load(key: string, id: string): Promise<RunRow | undefined> {
    return this.batches.alone(key, () => this.one(key, id)) ?? callIn(this.batches, { key, id }, 0);
  }

  private one(key: string, id: string): Promise<RunRow | undefined> {
    return this.direct.tried(async () => {
      const partition = await this.direct.of(EXECUTIONS, id);
      const { rows } = await this.db.query<RunRow>(loadInPartitionSql(partition), [key, id], PREPARED);
      return rows[0];
    });
  }

  private async send(batch: LoadCall[]): Promise<void> {
    if (batch.length === 1) {
      const [call] = batch as [LoadCall];
      call.resolve(await this.one(call.input.key, call.input.id));
      return;
    }
    const groups = new Map<string, LoadCall[]>();
    for (const call of batch) {
      const partition = await this.direct.of(EXECUTIONS, call.input.id);
      groups.set(partition, [...(groups.get(partition) ?? []), call]);
    }
    for (const [partition, group] of groups) {
      const rows = await this.direct.tried(async () => {
        const { rows } = await this.db.query<RunRow & { key: string }>(
          loadManyInPartitionSql(partition),
          [group.map((call) => call.input.key), group.map((call) => call.input.id)],
          PREPARED,
        );
        return rows;
      }, false);
      const found = new Map((rows ?? []).map(({ key, ...row }) => [key, row as RunRow]));
      if (found.size < group.length) this.direct.missed();
      for (const call of group) call.resolve(found.get(call.input.key));
    }
  }
}

/**
 * loadInPartitionSql for many runs of one partition ($1 their keys, $2 their ids, one element per
 * run), each with its key. No row for a run that is not there. Each run is found through the
 * partition's index on its id, whatever the generic plan guesses the arrays hold: the `limit` keeps
 * the lateral read a read per run, which the planner would otherwise make a join, and with a few
 * hundred runs in the partition a scan of it.
 */
function loadManyInPartitionSql(executions: string): string {
  return once(
    `load many in ${executions}`,
    () => `select r.key, e.id, e.state
      from unnest($1::text[], $2::uuid[]) as r(key, id)
      cross join lateral (select e.id, e.state from ${executions} e
                           where e.id = r.id and e.idempotency_key = r.key limit 1) e`,
  );
}
