/** `flowstore partitions`: the ranges of time the history tables are partitioned by. */

import type { Command } from "commander";
import type { HistoryRange, Store } from "../index.js";
import { type CliContext, columns } from "./context.js";
import { formatBytes } from "./status.js";

interface RangeView {
  name: string;
  from: string | null;
  to: string | null;
  runs: number;
  bytes: number;
}

export function registerPartitionsCommand(program: Command, cli: CliContext): void {
  program
    .command("partitions")
    .description(
      "the ranges of time the history tables are partitioned by (retention drops each whole once it ended before the cut), with the runs (an estimate) and the size of each, and of the default partitions",
    )
    .option("--ensure", "first make the ranges due now, as opening the store and every prune do")
    .addHelpText("after", "\nExamples:\n  $ flowstore partitions\n  $ flowstore partitions --ensure --json")
    .action((options: { ensure?: boolean }) =>
      cli.withStore(
        { migrate: false, changes: options.ensure ? "partitions --ensure" : undefined },
        async (store) => {
          const made = options.ensure ? await store.ensurePartitions() : [];
          const ranges = await describeRanges(store);
          cli.print({ made: made.map((range) => range.name), ranges }, () =>
            [
              options.ensure
                ? `made ${made.length} range(s)${made.length ? `: ${made.map((r) => r.name).join(", ")}` : ""}`
                : "",
              columns(
                ranges.map((range) => ({
                  range: range.name,
                  from: range.from ?? "-",
                  to: range.to ?? "-",
                  runs: `~${range.runs}`,
                  size: formatBytes(range.bytes),
                })),
                "no ranges",
              ),
            ]
              .filter(Boolean)
              .join("\n"),
          );
        },
      ),
    );
}

/** Every range oldest first, then the default partitions (ids no range covers). */
async function describeRanges(store: Store): Promise<RangeView[]> {
  const [ranges, sizes] = await Promise.all([store.listPartitions(), store.partitionSizes()]);
  const size = (name: string) => sizes.find((s) => s.name === name) ?? { runs: 0, bytes: 0 };
  const view = (range: HistoryRange): RangeView => ({
    name: range.name,
    from: range.startsAt?.toISOString() ?? null,
    to: range.endsAt.toISOString(),
    runs: size(range.name).runs,
    bytes: size(range.name).bytes,
  });
  return [...ranges.map(view), { name: "default", from: null, to: null, ...size("default") }];
}
