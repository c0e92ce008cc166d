// Types of scripts/matrix-cover.mjs, for its test.

import type { MatrixRun } from "./matrix-plan.mjs";

export function statementCover(
  byFile: Record<string, string[]>,
  seconds: Map<string, number>,
  candidates: string[],
  always?: string[],
): { files: string[]; statements: number };
export const SKIPPED_IN_NPM_TEST: { glob: string; node: number; why: string }[];
export function testFiles(): string[];
export function filesOf(run: MatrixRun, files?: string[]): { candidates: string[]; always: string[] };
export function matches(file: string, glob: string): boolean;
export function lastDurations(): Map<string, number>;
export function planRun(
  run: MatrixRun,
  referenceFile: string,
): { files: string[]; statements: number; of: number; seconds: number; allSeconds: number } | undefined;
