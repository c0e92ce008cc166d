/** The state of one component inside one execution, versioned for compare-and-set. */

import type { SqlContext, StoreContext } from "../core/context.js";
import { ConflictError, NotFoundError, ValidationError } from "../core/errors.js";
import { checkId, optionalVersion, optionKeys, refuseUnknownKeys } from "../core/input.js";
import { checkText, toJson } from "../core/payload.js";
import { idBatch } from "../core/planned-few.js";

export interface ComponentStateEntry {
  executionId: string;
  componentId: string;
  /** Any JSON value; a stored `null` is an entry whose state is null, not a missing entry. */
  state: unknown;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface ComponentStatePutOptions {
  /** 0: the entry must not exist yet. n: the entry must be at version n. Otherwise a ConflictError. */
  expectedVersion?: number;
}

const PUT_KEYS = optionKeys<ComponentStatePutOptions>({ expectedVersion: true });

const COLUMNS = `execution_id as "executionId", component_id as "componentId", state, version,
  created_at as "createdAt", updated_at as "updatedAt"`;

export class ComponentState {
  constructor(protected readonly context: StoreContext) {}

  /** The entry, or null when the component has none. */
  async get(executionId: string, componentId: string): Promise<ComponentStateEntry | null> {
    checkId(executionId, "executionId");
    checkText(componentId, "componentId", 1024);
    const { rows } = await this.context.db.query<ComponentStateEntry>(
      `select ${COLUMNS} from ${this.context.q}.component_state where execution_id = $1 and component_id = $2`,
      [executionId, componentId],
    );
    return rows[0] ?? null;
  }

  async put(
    executionId: string,
    componentId: string,
    state: unknown,
    options: ComponentStatePutOptions = {},
  ): Promise<ComponentStateEntry> {
    checkId(executionId, "executionId");
    checkText(componentId, "componentId", 1024);
    refuseUnknownKeys(options, PUT_KEYS);
    const json = toJson(state, "state", this.context.limits);
    const expected = optionalVersion(options.expectedVersion);
    const q = this.context.q;
    const where = `${executionId}/${componentId}`;
    if (expected !== null && expected > 0) {
      const { rows } = await this.context.db.query<ComponentStateEntry>(
        `update ${q}.component_state set state = $3::jsonb, version = version + 1, updated_at = now()
         where execution_id = $1 and component_id = $2 and version = $4
         returning ${COLUMNS}`,
        [executionId, componentId, json, expected],
      );
      if (rows[0]) return rows[0];
      const current = await this.get(executionId, componentId);
      if (!current) throw new NotFoundError(`component state ${where} not found`);
      throw new ConflictError(
        `component state ${where} is at version ${current.version}, not the expected ${expected}; nothing was written`,
      );
    }
    // With expectedVersion 0 an existing entry is left alone and reported as a conflict.
    const { rows } = await this.context.db
      .query<ComponentStateEntry>(
        `insert into ${q}.component_state as c (execution_id, component_id, state) values ($1, $2, $3::jsonb)
         on conflict (execution_id, component_id) do update
           -- The time is the proposed row's default (now()): Citus refuses a call of now() here.
           set state = excluded.state, version = c.version + 1, updated_at = excluded.updated_at
           where $4::bigint is null
         returning ${COLUMNS}`,
        [executionId, componentId, json, expected],
      )
      .catch((error: unknown) => {
        if (error instanceof ValidationError && error.sqlState === "23503") {
          throw new NotFoundError(`execution ${executionId} not found`, { cause: error.cause ?? error });
        }
        throw error;
      });
    if (rows[0]) return rows[0];
    throw new ConflictError(
      `component state ${where} already exists (expectedVersion 0); nothing was written`,
    );
  }

  /** True when an entry was deleted. With expectedVersion, only that version is deleted. */
  async delete(
    executionId: string,
    componentId: string,
    options: ComponentStatePutOptions = {},
  ): Promise<boolean> {
    checkId(executionId, "executionId");
    checkText(componentId, "componentId", 1024);
    refuseUnknownKeys(options, PUT_KEYS);
    const expected = optionalVersion(options.expectedVersion);
    const { rowCount } = await this.context.db.query(
      `delete from ${this.context.q}.component_state
       where execution_id = $1 and component_id = $2 and ($3::bigint is null or version = $3)`,
      [executionId, componentId, expected],
    );
    if (rowCount === 0 && expected !== null) {
      const current = await this.get(executionId, componentId);
      if (current) {
        throw new ConflictError(
          `component state ${executionId}/${componentId} is at version ${current.version}, not the expected ${expected}`,
        );
      }
    }
    return rowCount > 0;
  }

  /** Every component's entry in the execution, by component id. */
  async list(executionId: string): Promise<ComponentStateEntry[]> {
    checkId(executionId, "executionId");
    const { rows } = await this.context.db.query<ComponentStateEntry>(
      `select ${COLUMNS} from ${this.context.q}.component_state where execution_id = $1 order by component_id`,
      [executionId],
    );
    return rows;
  }
}

/** Retention: deletes the component state of these executions; returns how many entries. */
export async function deleteComponentStateOf({ db, q }: SqlContext, executionIds: string[]): Promise<number> {
  const sql = `delete from ${q}.component_state where execution_id = any(${idBatch(1, "uuid")})`;
  return (await db.query(sql, [executionIds])).rowCount;
}
