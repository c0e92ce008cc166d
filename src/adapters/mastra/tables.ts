/** The flowstore store a Mastra storage writes to, opened on first use when it was given a connection. */

import { quoteIdentifier } from "../../db/sql.js";
import type { PayloadLimits, Store, StoreScope } from "../../index.js";

export interface MastraSql {
  /** Where statements go: the store (each its own commit) or, inside `transaction`, the transaction. */
  db: Pick<StoreScope, "query" | "transaction" | "blobs">;
  /** Where reads that may lag go (lists, counts): the store's read connection when it has one. */
  reads: Pick<StoreScope, "query">;
  /** The store's schema, quoted for SQL text. */
  q: string;
  limits: Readonly<PayloadLimits>;
}

export class MastraTables {
  private opened: Promise<MastraSql> | undefined;
  /** What sql() resolves with, once it has: the calls made every step take it without a wait. */
  ready: MastraSql | undefined;

  constructor(private readonly source: Store | (() => Promise<Store>)) {}

  async store(): Promise<Store> {
    return typeof this.source === "function" ? this.source() : this.source;
  }

  sql(): Promise<MastraSql> {
    this.opened ??= this.store().then((store) => {
      this.ready = {
        db: store,
        reads: store,
        q: quoteIdentifier(store.schema),
        limits: store.limits,
      };
      return this.ready;
    });
    return this.opened;
  }
}
