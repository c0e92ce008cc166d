/**
 * Our own pool, for a DSN or the environment: TLS as libpq settles it, generic plans, a pooler found
 * and lived with, and the host chosen among several. Loaded only when a store connects to a server,
 * so that a process on the embedded store never loads node-postgres.
 */

import pg from "pg";
import type { ConnectionConfig } from "../config/connection-config.js";
import type { resolvePoolOptions } from "../config/pool.js";
import { retryWithoutTls } from "../config/tls.js";
import { type ConnectionError, toStoreError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { StatementLogging } from "./driver.js";
import type { Failover } from "./failover.js";
import { firstContactError } from "./first-contact.js";
import { chooseHost } from "./hosts.js";
import { NodePostgresDriver } from "./node-postgres.js";
import { checkListenBehindPooler } from "./pooler-listen-check.js";

/**
 * Builds our pool. With sslmode=prefer (libpq's default) it tries TLS first and, if the server has
 * none, settles on a plain connection, as libpq does; node-postgres alone cannot fall back.
 */
/**
 * Every prepared statement's generic plan is an index probe (the prepared-plans test keeps it so), and
 * planning costs more than running. Left to choose, the server planned the claim afresh at every call
 * behind a million ready jobs of other queues, since a custom plan looked cheaper there: that doubled a
 * claim's time. So the store's own connections ask for generic plans when they open, except where
 * prepared statements are off (behind PgBouncer, which would refuse the startup option).
 *
 * They also turn JIT off: every statement of the store is a short one, and a server built with LLVM
 * compiles any whose estimate passes jit_above_cost. jobs.stats() on a fresh store is estimated at
 * 575,000 (600 queues guessed, each with a skip scan), and on Debian's PostgreSQL 15 each call spent
 * 0.7 s compiling a statement that runs in a millisecond.
 */
function withPlanSettings(config: pg.PoolConfig, planning: Planning): pg.PoolConfig {
  switch (planning) {
    case "generic":
      return { ...config, options: "-c plan_cache_mode=force_generic_plan -c jit=off" };
    case "custom":
      return { ...config, options: "-c jit=off" };
    case "server":
      return config;
  }
}

/**
 * How the store's connections plan its statements: `generic`, prepared once and planned once (the
 * default); `custom`, planned at every call with its values (on Citus, whose distributed planner cannot
 * route a generic plan's parameters); `server`, as the server is set (behind a pooler that refuses
 * startup options, or where the user turned prepared statements off).
 */
type Planning = "generic" | "custom" | "server";

/** The pool settings as resolved: the options over the environment over the defaults. */
export type ResolvedPool = ReturnType<typeof resolvePoolOptions>;

/** What our own pool is opened for (open.ts's plan for a server). */
export interface ServerPlan {
  config: ConnectionConfig;
  poolSettings: ResolvedPool;
  preparedStatements: boolean | undefined;
  /** Where LISTEN connects, when not where the pool does. */
  listen: ConnectionConfig | undefined;
}

export async function openPool(
  plan: ServerPlan,
  logger: Logger,
  statements: StatementLogging | undefined,
): Promise<NodePostgresDriver> {
  const { config, poolSettings: poolOptions, preparedStatements, listen } = plan;
  const poolFor = (c: ConnectionConfig, planning: Planning) =>
    new pg.Pool(withPlanSettings(c.toPgConfig(poolOptions), planning));
  // Several hosts (or a role asked of one): the store uses the one chosen, and chooses again when it
  // loses it. Each host's URL tells them apart.
  const failover = (planning: Planning): Failover | undefined =>
    config.choosesHost
      ? {
          choose: async () => {
            const chosen = await chooseHost(config, poolOptions);
            return { description: String(chosen), pool: () => poolFor(chosen, planning) };
          },
        }
      : undefined;
  const build = (c: ConnectionConfig, planning: Planning, distributed: boolean) =>
    new NodePostgresDriver(poolFor(c, planning), {
      ownsPool: true,
      secrets: [...c.secrets(), ...(listen?.secrets() ?? [])],
      description: String(c),
      logger,
      statements,
      preparedStatements: planning === "generic",
      listenConfig: listen && listenSettings(listen, poolOptions),
      failover: failover(planning),
      distributed,
    });
  let current = config;
  let planning: Planning = preparedStatements === false ? "server" : "generic";
  // Found at the first connection that answers; the driver is then made again, knowing it.
  let citus: boolean | undefined;
  for (;;) {
    // Its error says what each host answered.
    if (current.choosesHost) current = await chooseHost(current, poolOptions);
    const driver = build(current, planning, citus === true);
    try {
      await driver.ping();
      if (citus === undefined) {
        citus = await isCitus(driver);
        if (citus) {
          logger.info({ connection: String(current) }, CITUS_NOTICE);
          await driver.close();
          if (planning === "generic") planning = "custom";
          continue;
        }
      }
      // Behind a pooler, LISTEN through it hears nothing in transaction pooling: check, and say so.
      if (planning === "server" && preparedStatements !== false && !listen) {
        checkListenBehindPooler(driver, logger, String(current));
      }
      return driver;
    } catch (error) {
      await driver.close().catch(() => {});
      const cause = (error as ConnectionError).cause ?? error;
      if (retryWithoutTls(current, String((cause as Error).message))) {
        current = current.withoutTls();
        continue;
      }
      if (planning !== "server" && refusesStartupOptions(cause)) {
        logger.info({ connection: String(current) }, POOLER_NOTICE);
        planning = "server";
        continue;
      }
      throw firstContactError(toStoreError(error, current.secrets()), current);
    }
  }
}

/** Whether the database has the Citus extension (whose catalog it adds to pg_catalog). */
export async function isCitus(driver: NodePostgresDriver): Promise<boolean> {
  const { rows } = await driver.query<{ citus: boolean }>(
    "select to_regclass('pg_catalog.pg_dist_partition') is not null as citus",
  );
  return rows[0]?.citus === true;
}

/**
 * Where LISTEN connects: the one host given, or the host chosen among several at each connection. With
 * sslmode=prefer (libpq's default, and so a URL's without sslmode), the host is asked first too, which
 * tries TLS and falls back to plain text where the server has none, as the pool does.
 */
export function listenSettings(
  listen: ConnectionConfig,
  poolOptions: ResolvedPool,
): pg.ClientConfig | (() => Promise<pg.ClientConfig>) {
  if (!listen.choosesHost && listen.sslMode !== "prefer") return listen.toPgConfig(poolOptions);
  return async () => (await chooseHost(listen, poolOptions)).toPgConfig(poolOptions);
}

/**
 * PgBouncer (and poolers like it) refuses the `options` startup parameter the store opens its
 * connections with, unless told to ignore it. Such a pooler, in transaction pooling, also hands each
 * transaction whichever server connection is free, where a statement prepared on another is missing.
 */
function refusesStartupOptions(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === "08P01" && /unsupported startup parameter/i.test(String(message));
}

export const CITUS_NOTICE =
  "flowstore: the database has Citus: its statements are planned at every call with their values " +
  "(no prepared statements, no generic plans), which Citus's distributed planner needs to route them, " +
  "and each run's writes go alone rather than batched with other runs' (one node each)";

const POOLER_NOTICE =
  "flowstore: the server refused a startup parameter, as PgBouncer does: connecting without it and with " +
  "preparedStatements: false (each statement planned at every call). Pass preparedStatements: false " +
  "to skip this first attempt.";
