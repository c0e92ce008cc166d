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
export interface LeftOut {
  glob: string;
  reason: "elsewhere" | "covered";
  why: string;
  except?: string[];
}
export const MATRIX_LEFT_OUT: LeftOut[];
export function leftOutOf(run: MatrixRun): LeftOut[];
export function unprovenStatements(
  referenceFile: string,
  runFile: string,
  runTestFiles: string[],
): { unrun: string[]; leftOut: string[] };
export function genericStatement(text: string): string;
export function touchesStoreTables(statement: string): boolean;
export function byFileName(file: string): string;
