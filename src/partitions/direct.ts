/**
 * The partition that holds an execution's rows, for the statements run often enough to name it
 * directly. A statement on a partitioned table pays for the table's partitions on every call: it is
 * planned anew each time (PostgreSQL's choice for most of them, as a generic plan costs every
 * partition), or its generic plan starts and prunes every partition's part. An update of one
 * execution by its id takes about twice as long through executions as through its partition, and a
 * statement that also writes component_state more as ranges are added (bench/mastra.ts's persist).
 *
 * The map is the ranges history_partitions lists, read on first use and again after a miss. A
 * statement that names a partition the map has wrong (a range made since, whose rows left the
 * default partition, or one dropped) finds no row, or fails (STALE): the caller then goes
 * through the partitioned table, and calls `missed()` so that a later call reads the ranges again.
 * Rows never move while a statement holds them: ranges are made and dropped under the tables' locks
 * (locks.ts), a partition detached and dropped in one transaction.
 */

import type { SqlContext } from "../core/context.js";
import { uuidFloor } from "./bounds.js";
import { listRanges, partitionOf } from "./ranges.js";
import type { PartitionedTable } from "./tables.js";

/**
 * How a statement fails on a partition a stale map names (a StoreError's sqlState): undefined_table,
 * the partition dropped; check_violation, a row put in a partition whose range is not its own.
 */
const STALE = new Set(["42P01", "23514"]);

/** Ranges read again after a miss at most this often: a run gone is a miss too, and may be common. */
const REREAD_MS = 1_000;

interface Bounds {
  /** The range's partitions by table, quoted with the schema (made on first use). */
  partitions: Map<string, string>;
  name: string;
  /** The lowest id in the range, and the lowest above it (uuid text compares as the server's uuid). */
  from: string;
  to: string;
}

export class DirectPartitions {
  private ranges: Promise<Bounds[]> | undefined;
  private readAt = 0;

  constructor(private readonly context: SqlContext) {}

  /** The partition of `table` the rows of execution `id` are in, quoted with its schema. */
  async of(table: PartitionedTable, id: string): Promise<string> {
    const ranges = await this.read();
    const range = ranges.find((r) => id >= r.from && id < r.to) ?? (ranges.at(-1) as Bounds);
    let partition = range.partitions.get(table.name);
    if (partition === undefined) {
      partition = partitionOf(this.context.q, table, range.name);
      range.partitions.set(table.name, partition);
    }
    return partition;
  }

  /**
   * Runs a statement that names partitions of the map: its answer, or undefined when it found nothing
   * there (a miss unless `miss` is false: see missed) or failed as on a partition the map has wrong.
   */
  async tried<T>(statement: () => Promise<T | undefined>, miss = true): Promise<T | undefined> {
    try {
      const found = await statement();
      if (found === undefined && miss) this.missed();
      return found;
    } catch (error) {
      if (!this.missed(error)) throw error;
      return undefined;
    }
  }

  /**
   * A statement found no row where the map said, or (`error`) failed as one does on a partition the map
   * has wrong: the ranges are read again, after a miss only once REREAD_MS has passed since the last read.
   * Returns whether `error` was that failure (else the caller throws it).
   */
  missed(error?: unknown): boolean {
    const gone = STALE.has((error as { sqlState?: string } | undefined)?.sqlState as string);
    if (error !== undefined && !gone) return false;
    if (gone || Date.now() - this.readAt >= REREAD_MS) this.ranges = undefined;
    return true;
  }

  private read(): Promise<Bounds[]> {
    if (!this.ranges) {
      this.readAt = Date.now();
      // The default partitions last, for the ids of no range.
      const reading = listRanges(this.context).then((ranges) => [
        ...ranges.map((r) => ({
          partitions: new Map<string, string>(),
          name: r.name,
          from: r.startsAt ? uuidFloor(r.startsAt) : "",
          to: uuidFloor(r.endsAt),
        })),
        { partitions: new Map<string, string>(), name: "default", from: "", to: "" },
      ]);
      reading.catch(() => {
        if (this.ranges === reading) this.ranges = undefined;
      });
      this.ranges = reading;
    }
    return this.ranges;
  }
}
