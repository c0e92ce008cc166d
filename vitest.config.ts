import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Separate processes: tests that hold an embedded data directory or kill children stay apart.
    pool: "forks",
    // PGlite starts in 2-5 s on a 2-core machine; one instance serves a whole file.
    hookTimeout: 60_000,
    testTimeout: 30_000,
    reporters: ["verbose"],
  },
});
