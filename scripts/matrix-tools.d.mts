// Types of scripts/matrix-tools.mjs, for the tests' global setup.

export const CACHE: string;
export const POSTGRES_BUILDS: Record<string, string>;
export const NODE_BUILDS: Record<string, string>;
export function postgresBinariesDir(major: string | number): string;
export function nodeProgram(major: string | number): string;
export function installPostgres(major: string | number, log?: (line: string) => void): string;
export function installNode(major: string | number, log?: (line: string) => void): string;
