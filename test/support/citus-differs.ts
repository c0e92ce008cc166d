/**
 * The conformance tests that do not apply on a Citus cluster (`npm run test:citus`), each with why:
 * they check how PostgreSQL's own planner or a single server does something (a plan, a statement count,
 * a server setting) rather than what a call does, or what docs/scale-out.md says differs there. A test
 * of what a call does is never listed: on Citus it passes, or the store is mended.
 * Skipped on Citus runs only (test/support/citus-setup.ts), with the reason in the report.
 */

/** Why each kind of test does not apply on Citus. */
const WHY = {
  plans:
    "reads the plans of PostgreSQL's own planner; on Citus the coordinator's plan is a Custom Scan over the shards, each planned by its worker",
  statements:
    "counts or batches the statements a call sends; on Citus each run is written alone (no batches of runs) and some calls take two statements (docs/scale-out.md)",
  statistics:
    "reads the table statistics PostgreSQL keeps of one table; on Citus they are kept per shard, on the workers",
  rangeDrop:
    "drops an aged range whole with runs that must stay moved out; on Citus those runs are pruned row by row and the range dropped once empty (docs/scale-out.md)",
  rangeMove:
    "moves rows out of the default partitions while they are locked as one server locks them; on Citus a range is made over empty default partitions only (docs/scale-out.md)",
  password:
    "checks password handling; the test cluster's nodes trust connections on loopback, with no password",
  refused:
    "calls executions.fork or rewind, which a distributed store refuses (docs/scale-out.md): the refusal is tested on every run, by a store that says it is distributed",
  scale:
    "writes 100,000 runs and times out on a 2-core machine running three servers; the same prune is covered on fewer runs",
} as const;

export interface Differs {
  /** The test file, from the repository's root. */
  file: string;
  /** The test's own name (not its describe blocks'), or a start of it. */
  test: string;
  why: keyof typeof WHY;
}

export const DIFFERS_ON_CITUS: readonly Differs[] = [
  { file: "test/executions/fork-rewind.test.ts", test: "", why: "refused" },
  { file: "test/executions/fork-rewind-concurrency.test.ts", test: "", why: "refused" },
  { file: "test/adapters/langgraph/langgraph-explain.test.ts", test: "", why: "plans" },
  {
    file: "test/adapters/workflow/workflow-world-lists.test.ts",
    test: "pages the hooks of every run through an index",
    why: "plans",
  },
  {
    file: "test/adapters/workflow/workflow-world-deltas.test.ts",
    test: "return what events.list returns after that cursor",
    why: "statements",
  },
  { file: "test/core/write-batches.test.ts", test: "", why: "statements" },
  { file: "test/core/write-batch-bytes.test.ts", test: "", why: "statements" },
  { file: "test/history/history-batches.test.ts", test: "", why: "statements" },
  {
    file: "test/steps/steps.test.ts",
    test: "records a step in one statement outside a transaction",
    why: "statements",
  },
  {
    file: "test/steps/steps.test.ts",
    test: "shares one statement among records made at the same time",
    why: "statements",
  },
  { file: "test/db/prepared-plans.test.ts", test: "", why: "plans" },
  { file: "test/executions/workflow-explain.test.ts", test: "", why: "plans" },
  { file: "test/kv/kv-explain.test.ts", test: "", why: "plans" },
  { file: "test/retention/retention-plans.test.ts", test: "", why: "plans" },
  {
    file: "test/executions/status-counts.test.ts",
    test: "counts exactly up to the bound, and estimates above it",
    why: "statistics",
  },
  { file: "test/partitions/partitions.test.ts", test: "drops an aged range whole", why: "rangeDrop" },
  {
    file: "test/partitions/partitions.test.ts",
    test: "lets writes through while it waits for the tables",
    why: "rangeDrop",
  },
  {
    file: "test/migrations/history-partitions.test.ts",
    test: "keeps every row, attaches the tables as they were",
    why: "rangeDrop",
  },
  {
    file: "test/db/driver-hygiene.test.ts",
    test: "never shows the password of a store opened from a URL",
    why: "password",
  },
  {
    file: "test/store/lifecycle.test.ts",
    test: "reports a wrong password as ConnectionError",
    why: "password",
  },
  { file: "test/retention/prune.test.ts", test: "prunes 100,000 executions", why: "scale" },
];

/** Why the test `name` of `file` does not apply on Citus, or undefined when it does. */
export function differsOnCitus(file: string, name: string): string | undefined {
  const entry = DIFFERS_ON_CITUS.find((d) => d.file === file && name.startsWith(d.test));
  return entry && `differs on Citus: ${WHY[entry.why]}`;
}
