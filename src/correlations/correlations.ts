/**
 * Correlation keys: an incoming event carries a key (an order id, a message thread), and the key
 * says which runs are waiting for it.
 */

import type { SqlContext, StoreContext } from "../core/context.js";
import { NotFoundError, ValidationError } from "../core/errors.js";
import { amongIds, type ExecutionIds } from "../core/id-set.js";
import { checkId, optionalDate, optionalTtl, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { checkText } from "../core/payload.js";
import { TERMINAL_SQL } from "../core/run-status.js";

export interface Correlation {
  key: string;
  executionId: string;
  expiresAt: Date | null;
  createdAt: Date;
}

export interface AddCorrelationOptions {
  /** After this moment the key no longer routes to the execution. */
  expiresAt?: Date;
  /** The same, counted from the database clock: expires `ttlMs` from now. */
  ttlMs?: number;
}

const ADD_KEYS = optionKeys<AddCorrelationOptions>({ expiresAt: true, ttlMs: true });

const COLUMNS = `key, execution_id as "executionId", expires_at as "expiresAt", created_at as "createdAt"`;
const LIVE = "(c.expires_at is null or c.expires_at > now())";

export class Correlations {
  constructor(protected readonly context: StoreContext) {}

  /** Adds the key to the execution; adding it again only replaces its expiry. */
  async add(key: string, executionId: string, options: AddCorrelationOptions = {}): Promise<Correlation> {
    checkText(key, "key", 1024);
    checkId(executionId, "executionId");
    refuseUnknownKeys(options, ADD_KEYS);
    const expiresAt = optionalDate(options.expiresAt, "expiresAt");
    const ttlMs = optionalTtl(options.ttlMs, true);
    if (expiresAt && ttlMs !== null) {
      throw new ValidationError("give expiresAt or ttlMs, not both", { field: "ttlMs" });
    }
    const { rows } = await this.context.db
      .query<Correlation>(
        `insert into ${this.context.q}.correlations as c (key, execution_id, expires_at)
         values ($1, $2, coalesce($3::timestamptz, now() + $4::bigint * interval '1 millisecond'))
         on conflict (key, execution_id) do update set expires_at = excluded.expires_at
         returning ${COLUMNS}`,
        [key, executionId, expiresAt, ttlMs],
      )
      .catch((error: unknown) => {
        if (error instanceof ValidationError && error.sqlState === "23503") {
          throw new NotFoundError(`execution ${executionId} not found`, { cause: error.cause ?? error });
        }
        throw error;
      });
    return rows[0] as Correlation;
  }

  /**
   * The executions the key routes to, oldest correlation first: expired keys are ignored, and so are
   * executions that have finished.
   */
  async resolve(key: string): Promise<Correlation[]> {
    checkText(key, "key", 1024);
    const { rows } = await this.context.db.query<Correlation>(
      `select c.key, c.execution_id as "executionId", c.expires_at as "expiresAt", c.created_at as "createdAt"
       from ${this.context.q}.correlations c join ${this.context.q}.executions e on e.id = c.execution_id
       where c.key = $1 and ${LIVE} and e.status not in ${TERMINAL_SQL}
       order by c.created_at, c.execution_id`,
      [key],
    );
    return rows;
  }

  /** Removes the key from one execution, or from all of them; returns how many were removed. */
  async remove(key: string, executionId?: string): Promise<number> {
    checkText(key, "key", 1024);
    if (executionId !== undefined) checkId(executionId, "executionId");
    const { rowCount } = await this.context.db.query(
      `delete from ${this.context.q}.correlations where key = $1 and ($2::uuid is null or execution_id = $2)`,
      [key, executionId ?? null],
    );
    return rowCount;
  }

  /** The unexpired keys of an execution, oldest first. */
  async listForExecution(executionId: string): Promise<Correlation[]> {
    checkId(executionId, "executionId");
    const { rows } = await this.context.db.query<Correlation>(
      `select ${COLUMNS} from ${this.context.q}.correlations c
       where c.execution_id = $1 and ${LIVE}
       order by c.created_at, c.key`,
      [executionId],
    );
    return rows;
  }
}

/** Retention: deletes the correlations of these executions; returns how many. */
export async function deleteCorrelationsOf(
  { db, q }: SqlContext,
  executionIds: ExecutionIds,
): Promise<number> {
  const among = amongIds("execution_id", executionIds);
  return (await db.query(`delete from ${q}.correlations where ${among.sql}`, among.params)).rowCount;
}
