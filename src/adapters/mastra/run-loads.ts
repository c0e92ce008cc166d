/**
 * Loads of runs made at the same time, read together: one statement (loadManySql) in place of one
 * each. A load's own statement costs the process more than the run it reads: the socket's write, the
 * driver's making of the query and the reading of its answer. A load made while nothing is in flight
 * goes at once, alone (loadStateSql), as it would without this; loads made while statements are in
 * flight gather for the next. Only the first read of a load goes here: a run that may have context rows
 * is read again with them, on its own (workflows.ts).
 */

import { Batches, type Call, callIn } from "../../core/batches.js";
import type { StoreScope } from "../../index.js";
import type { RunRow } from "./runs.js";
import { loadManySql, loadStateSql, PREPARED } from "./workflow-sql.js";

/** Statements in flight at once: loads that arrive meanwhile wait for the next. */
const IN_FLIGHT = 2;
/** Loads a statement takes at most. */
const MAX_ROWS = 500;

/** What a first read of a load gives: the run's state alone. */
type Loaded = Pick<RunRow, "state">;
type LoadCall = Call<string, Loaded | undefined>;

const firstRow = ({ rows }: { rows: Loaded[] }): Loaded | undefined => rows[0];

export class RunLoads {
  private readonly batches: Batches<LoadCall>;

  constructor(
    private readonly db: Pick<StoreScope, "query">,
    private readonly q: string,
  ) {
    this.batches = new Batches({
      send: (batch) => this.send(batch),
      maxInFlight: IN_FLIGHT,
      gatherTurn: true,
      soonWhenIdle: true,
      maxRows: MAX_ROWS,
      // Two loads of one run never share a statement: each gets a row of its own to give its caller.
      keyOf: (call) => call.input,
    });
  }

  /** The run's state; undefined when there is no run of that key. */
  load(key: string): Promise<Loaded | undefined> {
    return this.batches.alone(key, () => this.one(key)) ?? callIn(this.batches, key, 0);
  }

  private one(key: string): Promise<Loaded | undefined> {
    return this.db.query<Loaded>(loadStateSql(this.q, false), [key], PREPARED).then(firstRow);
  }

  private async send(batch: LoadCall[]): Promise<void> {
    if (batch.length === 1) {
      const [call] = batch as [LoadCall];
      call.resolve(await this.one(call.input));
      return;
    }
    const { rows } = await this.db.query<Loaded & { key: string }>(
      loadManySql(this.q),
      [batch.map((call) => call.input)],
      PREPARED,
    );
    const found = new Map(rows.map(({ key, state }) => [key, { state }]));
    for (const call of batch) call.resolve(found.get(call.input));
  }
}
