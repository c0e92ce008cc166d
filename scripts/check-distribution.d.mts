// Types of scripts/check-distribution.mjs, for the tests that feed it fixtures.

export interface SqlFile {
  /** The file name, as messages name it: `0002_workflow_state.sql`. */
  name: string;
  sql: string;
}

export interface PlanEntry {
  kind: "distributed" | "reference" | "local";
  why: string;
  column?: string;
  colocateWith?: string;
  /** Keys of a distributed table that lack its column, by name, each with what Citus needs instead. */
  exceptions?: Record<string, string>;
}

export interface Plan {
  tables: Record<string, PlanEntry>;
}

export interface Key {
  kind: "primary" | "constraint" | "index";
  name: string;
  /** Each element as written: a column, or an expression. */
  elements: string[];
  /** The plain columns among the elements. */
  columns: string[];
  where: string | null;
  file: string;
}

export interface ForeignKey {
  name: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
  file: string;
}

export interface TableShape {
  name: string;
  file: string;
  columns: Map<string, { type: string; collation: string | null; notNull: boolean; file: string }>;
  keys: Key[];
  foreignKeys: ForeignKey[];
}

export const MIGRATIONS_DIR: string;
export const PLAN_FILE: string;
export function readMigrations(dir?: string): SqlFile[];
export function readPlan(file?: string): Plan;
export function readShape(sqlFiles: SqlFile[]): { tables: Map<string, TableShape>; problems: string[] };
export function checkDistribution(sqlFiles: SqlFile[], plan: Plan): string[];
export const CITUS_SESSION: string[];
export function citusCalls(plan: Plan, sqlFiles: SqlFile[], schema?: string): string[];
