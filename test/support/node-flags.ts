/**
 * Node.js flags for the suite's own processes: its test files' (vitest.config.ts) and the command and
 * fixtures they start (cli-run.ts, fixture-process.ts).
 *
 * `--liftoff-only`: PGlite is PostgreSQL compiled to WebAssembly, about 9 MB of it, compiled again in
 * every process that opens one. V8 compiles it at once with its baseline compiler and then again, in
 * the background, with its optimizing one, which pays off in a process that runs for minutes, not in a
 * test file's. Without that second compile, five PGlite test files took a quarter less CPU time (55 s
 * against 73 s) and 22% less time. Nothing else in the suite runs WebAssembly that long.
 */
export const NODE_FLAGS = ["--liftoff-only"];
