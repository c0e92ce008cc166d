import { defineConfig } from "vitest/config";
import { memoryTmpdir } from "./test/support/memory-tmpdir.js";
import { NODE_FLAGS } from "./test/support/node-flags.js";
import { LongestFirst } from "./test/support/sequencer.js";

// The run's temporary files (its servers' data above all) in memory where the machine has room: see
// memory-tmpdir.ts. Set here, so the global setup's server and every test file's process take it.
const tmp = memoryTmpdir();
if (tmp) process.env.TMPDIR = tmp;

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    // After every file, what the support modules hold for it is released (file-setup.ts). On a Citus
    // cluster, the tests that check a single server's planner or statements are skipped.
    setupFiles: [
      "test/support/file-setup.ts",
      ...(process.env.FLOWSTORE_TEST_POSTGRES === "citus" ? ["test/support/citus-setup.ts"] : []),
    ],
    // Separate processes: tests that hold an embedded data directory or kill children stay apart.
    pool: "forks",
    // A worker runs its files one after another in one process, which loads the store's modules once
    // rather than once per file (imports: 198 s of a run against 29 s; the whole run 1,611 s against
    // 1,342 s): what a file opens is closed when it ends (test/support/file-end.ts), and what a test
    // measures of a process (its memory, its exit) it measures of a child of its own.
    isolate: false,
    // Two files at a time on two cores (the default leaves one core to the runner): much of a file's
    // time is spent waiting on the server, child processes and timers. A full run: 792 s, against
    // 1,117 s one file at a time.
    maxWorkers: 2,
    // The longest files first, also from a fresh clone, which has no durations cached (sequencer.ts).
    sequence: { sequencer: LongestFirst },
    // s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in its legacy
    // provider: without it, a listing cut short by max-keys answers 500.
    execArgv: ["--openssl-legacy-provider", ...NODE_FLAGS],
    // PGlite starts in 2-5 s on a 2-core machine; one instance serves a whole file.
    hookTimeout: 60_000,
    testTimeout: 30_000,
    reporters: ["verbose"],
  },
});
