/**
 * What a support module holds for the test file that runs (its database, its PGlite, the processes
 * and directories it made) is released when that file ends, through `onFileEnd`.
 *
 * A worker runs one file after another in the same process (vitest's `isolate: false`, for speed:
 * each file would otherwise load the store's modules again), so a support module is evaluated once
 * per worker, not once per file: an `afterAll` at its top level would run after the first file only.
 * The setup file test/support/file-setup.ts runs `endFile` after every file instead.
 */
const endings = new Set<() => void | Promise<void>>();

/** Registers `end` to run after every test file (once, whichever module registers it how often). */
export function onFileEnd(end: () => void | Promise<void>): void {
  endings.add(end);
}

/** Runs every registered ending, all of them even when one fails; the first failure is thrown. */
export async function endFile(): Promise<void> {
  const results = await Promise.allSettled([...endings].map((end) => end()));
  const failed = results.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
}
