/**
 * Where the test run keeps its temporary files: a memory-backed directory when the machine has one with
 * room (Linux's /dev/shm), else the system's temp directory. The run's servers keep their data there,
 * and on a disk each file's database, copied from the run's template of migrated schemas (thousands of
 * relation files, schema-pool.ts), took 1.7 to 3.7 s to create against 0.2 s in memory; the version
 * matrix's PostgreSQL 14 run went from 536 s to 356 s.
 *
 * FLOWSTORE_TEST_TMPDIR names another directory, or `os` for the system's own.
 */
import { accessSync, constants, statfsSync } from "node:fs";

const TMPFS_MAGIC = 0x01021994;
/** Room the run needs: its servers' data (a few databases at a time) and the embedded stores' files. */
const NEEDED_BYTES = 4 * 1024 ** 3;

export function memoryTmpdir(): string | undefined {
  const wanted = process.env.FLOWSTORE_TEST_TMPDIR;
  if (wanted) return wanted === "os" ? undefined : wanted;
  const dir = "/dev/shm";
  try {
    accessSync(dir, constants.W_OK);
    const stats = statfsSync(dir);
    if (stats.type !== TMPFS_MAGIC || stats.bavail * stats.bsize < NEEDED_BYTES) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}
