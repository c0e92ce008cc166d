/** The flowstore store a Mastra storage writes to, opened on first use when it was given a connection. */

import { quoteIdentifier } from "../../db/sql.js";
import type { PayloadLimits, Store, StoreScope } from "../../index.js";
import { DirectPartitions } from "../../partitions/index.js";

export interface MastraSql {
  /** Where statements go: the store (each its own commit) or, inside `transaction`, the transaction. */
  db: Pick<StoreScope, "query" | "transaction" | "blobs">;
  /** Where reads that may lag go (lists, counts): the store's read connection when it has one. */
  reads: Pick<StoreScope, "query">;
  /** The store's schema, quoted for SQL text. */
  q: string;
  limits: Readonly<PayloadLimits>;
  /**
   * The partitions that hold a run's rows, for the statements run at every step (see
   * partitions/direct.ts); none on Citus, where a statement goes to the node of its run either way.
   */
  direct: DirectPartitions | undefined;
}

export class MastraTables {
  private opened: Promise<MastraSql> | undefined;
  private counted: Promise<boolean> | undefined;

  constructor(private readonly source: Store | (() => Promise<Store>)) {}

  async store(): Promise<Store> {
    return typeof this.source === "function" ? this.source() : this.source;
  }

  sql(): Promise<MastraSql> {
    this.opened ??= this.store().then((store) => ({
      db: store,
      reads: store,
      q: quoteIdentifier(store.schema),
      limits: store.limits,
      direct: store.driver.capabilities.distributed
        ? undefined
        : new DirectPartitions({ db: store.driver, q: quoteIdentifier(store.schema) }),
    }));
    return this.opened;
  }

  /**
   * Whether the store keeps Mastra's run counts (migration 0044): its triggers are on executions,
   * everywhere but on Citus.
   */
  runsCounted(): Promise<boolean> {
    this.counted ??= this.sql().then(async ({ db, q }) => {
      const { rows } = await db.query<{ counted: boolean }>(
        `select exists (select 1 from pg_trigger where tgrelid = to_regclass($1) and tgname = 'mastra_run_made')
           as counted`,
        [`${q}.executions`],
      );
      return rows[0]?.counted === true;
    });
    this.counted.catch(() => {
      this.counted = undefined;
    });
    return this.counted;
  }
}
