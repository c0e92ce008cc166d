/** Versioned workflow definitions: `(name, version)` is unique, the body is JSONB. */

import { forReads, type StoreContext } from "../core/context.js";
import { ConflictError, NotFoundError, violates } from "../core/errors.js";
import {
  checkId,
  checkInteger,
  checkLimit,
  checkOneOf,
  idOrNew,
  optionKeys,
  refuseUnknownKeys,
} from "../core/input.js";
import { checkText, toJson } from "../core/payload.js";

export const DEFINITION_STATUSES = ["draft", "active", "deprecated", "archived"] as const;
export type DefinitionStatus = (typeof DEFINITION_STATUSES)[number];

export interface Definition {
  id: string;
  name: string;
  version: number;
  definition: unknown;
  status: DefinitionStatus;
  /** When the definition last became active. */
  deployedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewDefinition {
  id?: string;
  name: string;
  /** Omitted: one more than the highest version of this name. */
  version?: number;
  definition: unknown;
  /** Default "draft". */
  status?: DefinitionStatus;
}

export interface DefinitionFilter {
  name?: string;
  status?: DefinitionStatus;
  /** Definitions whose body contains this JSON (`@>`, served by the GIN index). */
  contains?: unknown;
  /** Default 1000. */
  limit?: number;
}

const NEW_KEYS = optionKeys<NewDefinition>({
  id: true,
  name: true,
  version: true,
  definition: true,
  status: true,
});
const FILTER_KEYS = optionKeys<DefinitionFilter>({ name: true, status: true, contains: true, limit: true });

const COLUMNS = `id, name, version, definition, status, deployed_at as "deployedAt",
  created_at as "createdAt", updated_at as "updatedAt"`;

export class Definitions {
  constructor(protected readonly context: StoreContext) {}

  async create(input: NewDefinition): Promise<Definition> {
    refuseUnknownKeys(input, NEW_KEYS);
    const id = idOrNew(input.id, "id");
    const name = checkText(input.name, "name");
    const status = checkOneOf(input.status ?? "draft", DEFINITION_STATUSES, "status");
    const body = toJson(input.definition, "definition", this.context.limits);
    const q = this.context.q;
    const insert = `insert into ${q}.definitions (id, name, version, definition, status, deployed_at)
      values ($1, $2, $3, $4::jsonb, $5, case when $5 = 'active' then now() end)
      returning ${COLUMNS}`;
    if (input.version !== undefined) {
      const version = checkInteger(input.version, "version", 1);
      const { rows } = await this.context.db
        .query<Definition>(insert, [id, name, version, body, status])
        .catch((error: unknown) => rethrowDuplicate(error, name, version));
      return rows[0] as Definition;
    }
    // Two creators of one name would both read the same highest version; a lock per name makes the
    // second read after the first commits. It is taken in its own statement so the read that follows
    // gets a fresh snapshot.
    return this.context.db.transaction(async (tx) => {
      await tx.query("select pg_advisory_xact_lock(hashtextextended($1, 0))", [
        `${this.context.schema}.definitions:${name}`,
      ]);
      const { rows: last } = await tx.query<{ version: number }>(
        `select coalesce(max(version), 0) as version from ${q}.definitions where name = $1`,
        [name],
      );
      const version = (last[0]?.version ?? 0) + 1;
      const { rows } = await tx
        .query<Definition>(insert, [id, name, version, body, status])
        .catch((error: unknown) => rethrowDuplicate(error, name, version));
      return rows[0] as Definition;
    });
  }

  async get(id: string): Promise<Definition> {
    checkId(id, "id");
    const { rows } = await this.context.db.query<Definition>(
      `select ${COLUMNS} from ${this.context.q}.definitions where id = $1`,
      [id],
    );
    if (!rows[0]) throw new NotFoundError(`definition ${id} not found`);
    return rows[0];
  }

  /** The given version of `name`, or with no version the newest active one; null when there is none. */
  async find(name: string, version?: number): Promise<Definition | null> {
    checkText(name, "name");
    const q = this.context.q;
    const { rows } =
      version === undefined
        ? await this.context.db.query<Definition>(
            `select ${COLUMNS} from ${q}.definitions where name = $1 and status = 'active'
             order by version desc limit 1`,
            [name],
          )
        : await this.context.db.query<Definition>(
            `select ${COLUMNS} from ${q}.definitions where name = $1 and version = $2`,
            [name, checkInteger(version, "version", 1)],
          );
    return rows[0] ?? null;
  }

  /** Ordered by name, then newest version first; from the store's readConnection when it has one. */
  async list(filter: DefinitionFilter = {}): Promise<Definition[]> {
    refuseUnknownKeys(filter, FILTER_KEYS);
    const conditions: string[] = [];
    const values: unknown[] = [];
    if (filter.name !== undefined) {
      values.push(checkText(filter.name, "name"));
      conditions.push(`name = $${values.length}`);
    }
    if (filter.status !== undefined) {
      values.push(checkOneOf(filter.status, DEFINITION_STATUSES, "status"));
      conditions.push(`status = $${values.length}`);
    }
    if (filter.contains !== undefined) {
      values.push(toJson(filter.contains, "contains", this.context.limits));
      conditions.push(`definition @> $${values.length}::jsonb`);
    }
    values.push(checkLimit(filter.limit, 1000));
    const where = conditions.length ? `where ${conditions.join(" and ")}` : "";
    const { rows } = await forReads(this.context).db.query<Definition>(
      `select ${COLUMNS} from ${this.context.q}.definitions ${where}
       order by name, version desc limit $${values.length}`,
      values,
    );
    return rows;
  }

  /** Becoming active (from another status) stamps `deployedAt` with the database clock. */
  async setStatus(id: string, status: DefinitionStatus): Promise<Definition> {
    checkId(id, "id");
    checkOneOf(status, DEFINITION_STATUSES, "status");
    const { rows } = await this.context.db.query<Definition>(
      // The clock read in a subquery the CASE refers to: Citus refuses now() inside a CASE of an update.
      `update ${this.context.q}.definitions
       set status = $2, updated_at = clock.now,
           deployed_at = case when $2 = 'active' and status <> 'active' then clock.now else deployed_at end
       from (select now() as now) clock
       where id = $1
       returning ${COLUMNS}`,
      [id, status],
    );
    if (!rows[0]) throw new NotFoundError(`definition ${id} not found`);
    return rows[0];
  }
}

function rethrowDuplicate(error: unknown, name: string, version: number): never {
  if (violates(error, "definitions_name_version")) {
    throw new ConflictError(`definition ${name} version ${version} already exists`, {
      cause: error.cause ?? error,
    });
  }
  throw error;
}
