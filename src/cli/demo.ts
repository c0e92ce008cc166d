/**
 * `flowstore demo` (what `npm start` runs): the store (embedded unless DATABASE_URL or --url says
 * otherwise), migrated, the example order engine running on it, and the dashboard.
 */

import type { Command } from "commander";
import type { CliContext } from "./context.js";
import {
  dashboardOptions,
  dashboardSettings,
  type ServeOptions,
  shareIfEmbedded,
  untilStopped,
} from "./serve.js";

export function registerDemoCommand(program: Command, cli: CliContext): void {
  dashboardOptions(
    program
      .command("demo")
      .description("run the example order engine on the store and serve the dashboard (npm start)"),
  )
    .option("--rate <n>", "new orders per second", "2")
    .option("--no-dashboard", "only the engine")
    .addHelpText(
      "after",
      "\nExamples:\n  $ flowstore demo                       # embedded store in ./.flowstore, dashboard on :4545\n  $ flowstore demo --url postgres://localhost/app --rate 10",
    )
    .action(async (options: ServeOptions & { rate: string; dashboard: boolean }) => {
      cli.refuseIfReadOnly("demo");
      const [{ serveDashboard }, { startOrderEngine, startProgressLine }] = await Promise.all([
        import("../dashboard/index.js"),
        import("../demo/index.js"),
      ]);
      const out = process.stdout;
      out.write("opening the store and applying migrations...\n");
      const store = await cli.openMigrated();
      const stops: Array<() => Promise<void>> = [() => store.close()];
      const stopAll = async () => {
        for (const stop of stops.splice(0).reverse()) await stop();
      };
      try {
        stops.push(await shareIfEmbedded(store));
        const engine = await startOrderEngine(store, { ratePerSecond: Number(options.rate) });
        stops.push(() => engine.stop());
        out.write(`store: ${store.describe()}, schema ${store.schema}\n`);
        if (options.dashboard) {
          const dashboard = await serveDashboard(store, {
            ...dashboardSettings(options),
            replay: (id) => engine.replay(id),
          });
          stops.push(() => dashboard.close());
          out.write(`dashboard: ${dashboard.url}\n`);
          out.write(`metrics:   ${dashboard.url}metrics (Prometheus' text format)\n`);
        }
        out.write("order engine running; Ctrl-C stops it (started again, it carries on)\n");
        const stopProgress = startProgressLine(engine);
        stops.push(stopProgress);
        await untilStopped();
        // The progress line's last word first, then the engine, the dashboard, the socket, the store.
        await stops.pop()?.();
        out.write("stopping: letting running steps finish...\n");
        await stopAll();
        out.write("stopped; everything is in the store.\n");
      } finally {
        await stopAll();
      }
    });
}
