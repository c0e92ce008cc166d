// Types of scripts/matrix-plan.mjs, for the tests' global setup.

export interface MatrixRun {
  label: string;
  postgres: string;
  node?: string;
  why: string;
}
export const STATEMENTS_DIR: string;
export const MATRIX: MatrixRun[];
export const MATRIX_FILES: string[];
export const MATRIX_LEFT_OUT: { glob: string; why: string }[];
export function unprovenStatements(
  referenceFile: string,
  runFile: string,
  runTestFiles: string[],
): { unrun: string[]; leftOut: string[] };
export function genericStatement(text: string): string;
export function touchesStoreTables(statement: string): boolean;
export function byFileName(file: string): string;
