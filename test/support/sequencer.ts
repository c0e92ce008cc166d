/**
 * The order test files start in: the longest first, so that no long file starts last and runs alone
 * while the other worker has nothing left (two workers, vitest.config.ts).
 *
 * Vitest orders by each file's last duration when it has them (its results cache, kept in
 * node_modules/.vite), and otherwise by file size, largest first. A fresh clone, as CI runs it, has no
 * cache, and size says little here: the Workflow SDK's conformance suite is a 40-line file that runs
 * for two minutes, and was the last file of a CI run, alone for most of that. So the files below,
 * measured as the longest, start first in this order; the others follow in vitest's own order.
 */
import path from "node:path";
import type { TestSpecification } from "vitest/node";
import { BaseSequencer } from "vitest/node";

/**
 * The longest files of a whole `npm test`, longest first (as measured on the developers' two cores:
 * a file missing here, or out of place, only starts later than it might).
 */
export const LONGEST_FILES: readonly string[] = [
  "test/adapters/workflow/workflow-app-v4.test.ts",
  "test/adapters/workflow/workflow-world-suite.test.ts",
  "test/core/write-batch-bytes.test.ts",
  "test/citus/scale-out-doc.test.ts",
  "test/cli/cli.test.ts",
  "test/docs/examples.test.ts",
  "test/core/input-fuzz-leases.test.ts",
  "test/adapters/workflow/workflow-app-slots.test.ts",
  "test/queue/queue-vacuum.test.ts",
  "test/store/store-close.test.ts",
  "test/db/pglite-template.test.ts",
  "test/store/package.test.ts",
  "test/worker/worker.test.ts",
  "test/adapters/langgraph/langgraph-large-values.test.ts",
  "test/citus/adapters.test.ts",
  "test/db/embedded-sharing.test.ts",
  "test/worker/worker-processes.test.ts",
  "test/core/input-fuzz.test.ts",
  "test/bench/soak.test.ts",
  "test/retention/retention-plans.test.ts",
  "test/retention/prune.test.ts",
];

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    const rank = (file: TestSpecification) => {
      const at = LONGEST_FILES.indexOf(path.relative(process.cwd(), file.moduleId));
      return at === -1 ? LONGEST_FILES.length : at;
    };
    // A stable sort: the files not listed keep vitest's order among themselves.
    return ordered.sort((a, b) => rank(a) - rank(b));
  }
}
