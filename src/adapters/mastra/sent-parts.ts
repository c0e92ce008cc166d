/**
 * Big context entries are not sent again unchanged. Mastra's default engine persists the whole snapshot
 * after every step, so a run whose input is a megabyte would send (and have the server parse and
 * compare) that megabyte at each step. This process remembers, per run, the hash of each big entry it
 * wrote and the version and creation time the row got; a later persist of the same value sends nothing
 * for it, once a check under the run's row lock finds the row as this process left it (no other writer
 * changed, deleted or made it again since). A row found otherwise is sent whole, as any other.
 */

import { createHash } from "node:crypto";

/** Entries of at least this many characters of JSON are the big ones. */
export const BIG_PART = 32 * 1024;
/** How many runs' entries are remembered (the least recently written forgotten first). */
const RUNS_REMEMBERED = 1000;

interface PartWritten {
  hash: string;
  version: number;
  createdAt: number;
}

interface RunWritten {
  runId: string;
  parts: Map<string, PartWritten>;
}

/** A row's version and creation time, as the statements return them. */
export interface PartVersion {
  partId: string | null;
  version: number | null;
  partCreatedAt: Date | null;
}

export class SentParts {
  private readonly runs = new Map<string, RunWritten>();

  /** The big entries of a split snapshot and the hash of each. */
  static big(partIds: readonly string[], parts: readonly string[]): Map<string, string> {
    const big = new Map<string, string>();
    parts.forEach((json, i) => {
      if (json.length >= BIG_PART)
        big.set(partIds[i] as string, createHash("sha1").update(json).digest("hex"));
    });
    return big;
  }

  /** The run's entries this process wrote with the same value as now: candidates to keep unsent. */
  unchanged(
    key: string,
    big: ReadonlyMap<string, string>,
  ): { runId: string; parts: Map<string, PartWritten> } {
    const run = this.runs.get(key);
    const parts = new Map<string, PartWritten>();
    if (!run) return { runId: "", parts };
    for (const [partId, hash] of big) {
      const written = run.parts.get(partId);
      if (written?.hash === hash) parts.set(partId, written);
    }
    return { runId: run.runId, parts };
  }

  /** Of `candidates`, those whose row is as this process left it (read under the run's lock). */
  static stillAsWritten(
    candidates: ReadonlyMap<string, PartWritten>,
    stored: readonly PartVersion[],
  ): Set<string> {
    const kept = new Set<string>();
    for (const row of stored) {
      const written = row.partId === null ? undefined : candidates.get(row.partId);
      if (written && written.version === row.version && written.createdAt === row.partCreatedAt?.getTime()) {
        kept.add(row.partId as string);
      }
    }
    return kept;
  }

  /** Remembers what a persist left: each big entry's hash, version and creation time. */
  remember(key: string, runId: string, big: ReadonlyMap<string, string>, rows: readonly PartVersion[]): void {
    const parts = new Map<string, PartWritten>();
    for (const row of rows) {
      const hash = row.partId === null ? undefined : big.get(row.partId);
      if (hash && row.version !== null && row.partCreatedAt) {
        parts.set(row.partId as string, {
          hash,
          version: Number(row.version),
          createdAt: row.partCreatedAt.getTime(),
        });
      }
    }
    this.runs.delete(key);
    if (parts.size === 0) return;
    this.runs.set(key, { runId, parts });
    if (this.runs.size > RUNS_REMEMBERED) this.runs.delete(this.runs.keys().next().value as string);
  }

  forget(key: string): void {
    this.runs.delete(key);
  }
}
