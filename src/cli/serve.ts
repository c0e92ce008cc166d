/** `flowstore serve`: the dashboard and /metrics (an embedded store it holds is served to other processes, as any holder's is). */

import type { Command } from "commander";
import type { Store } from "../index.js";
import type { CliContext } from "./context.js";

export interface ServeOptions {
  host?: string;
  port?: string;
  token?: string;
}

/** The dashboard's options from the command's: what is not given, the dashboard's defaults decide. */
export function dashboardSettings(options: ServeOptions): { host?: string; port?: number; token?: string } {
  return {
    host: options.host,
    port: options.port === undefined ? undefined : Number(options.port),
    token: options.token,
  };
}

/** Kept for the commands that call it: a store holding the embedded store serves it from the moment it opens. */
export async function shareIfEmbedded(store: Store): Promise<() => Promise<void>> {
  const shared = await store.shareEmbedded();
  return () => shared.close();
}

/**
 * Resolves on the first SIGINT or SIGTERM (Ctrl-C), keeping the process alive until then: signal
 * handlers do not, and a pool whose connections idle out leaves nothing else that would.
 */
export function untilStopped(): Promise<string> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => {}, 2 ** 30);
    const stop = (signal: string) => {
      clearInterval(keepAlive);
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve(signal);
    };
    const onInt = () => stop("SIGINT");
    const onTerm = () => stop("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
  });
}

export function dashboardOptions(program: Command): Command {
  return program
    .option("--host <host>", "address to bind (default 127.0.0.1; other than loopback needs a token)")
    .option("--port <port>", "port (0: any free port; default 4545)")
    .option("--token <token>", "access token (default: FLOWSTORE_DASHBOARD_TOKEN)");
}

export function registerServeCommand(program: Command, cli: CliContext): void {
  dashboardOptions(
    program.command("serve").alias("dashboard").description("serve the web dashboard and /metrics"),
  )
    .addHelpText(
      "after",
      '\nExamples:\n  $ flowstore serve                      # http://127.0.0.1:4545\n  $ flowstore serve --host 0.0.0.0 --token "$(openssl rand -hex 16)"\n  $ flowstore serve --url postgres://standby/app --read-only   # a standby: looks, never writes\n  $ flowstore serve --url postgres://primary/app --read-url postgres://standby/app\n\nWith --read-only nothing is migrated and the dashboard\'s actions (retrying a dead job) answer 403;\nwith --read-url its lists and counts come from the replica.\nPrometheus scrapes /metrics (with the token, when one is set, as a Bearer token).',
    )
    .action(async (options: ServeOptions) => {
      // Loaded by the commands that serve it: the others start without the dashboard's modules.
      const { serveDashboard } = await import("../dashboard/index.js");
      const store = await cli.openMigrated();
      try {
        const unshare = await shareIfEmbedded(store);
        try {
          const dashboard = await serveDashboard(store, dashboardSettings(options));
          process.stdout.write(
            `dashboard: ${dashboard.url}  metrics: ${new URL("metrics", dashboard.url)}  (${store.describe()}; Ctrl-C to stop)\n`,
          );
          await untilStopped();
          process.stdout.write("stopping...\n");
          await dashboard.close();
        } finally {
          await unshare();
        }
      } finally {
        await store.close();
      }
    });
}
