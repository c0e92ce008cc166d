/**
 * Choosing one of several hosts, as libpq does with target_session_attrs: each host is tried in
 * order, and the first that answers as asked is the one. A primary and its standbys can so be given
 * together, and the store finds whichever is the primary now, at open and again after a failover.
 */

import pg from "pg";
import type { ConnectionConfig } from "../config/connection-config.js";
import type { PoolOptions } from "../config/pool.js";
import { retryWithoutTls } from "../config/tls.js";
import { ConnectionError, toStoreError } from "../core/errors.js";

/** What a host said it is, or why it could not be asked. */
type Answer = { config: ConnectionConfig; standby: boolean; readOnly: boolean } | { failure: string };

/**
 * The first of `config`'s hosts that suits its target_session_attrs, as a configuration with that
 * host alone (and without TLS where sslmode=prefer met a server without it). Throws a ConnectionError
 * saying what each host answered when none suits.
 */
export async function chooseHost(
  config: ConnectionConfig,
  pool: Required<PoolOptions>,
): Promise<ConnectionConfig> {
  const target = config.targetSessionAttrs;
  const answers: Answer[] = [];
  for (let index = 0; index < config.hosts.length; index++) {
    const answer = await ask(config.atHost(index), pool, target === "any");
    answers.push(answer);
    if ("config" in answer && suits(answer, target)) return answer.config;
  }
  // prefer-standby settles for any host that answered, when none is a standby.
  const fallback = target === "prefer-standby" ? answers.find((a) => "config" in a) : undefined;
  if (fallback && "config" in fallback) return fallback.config;
  const said = answers.map((answer, i) => {
    const { host, port } = config.hosts[i] as { host: string; port: number };
    const what =
      "failure" in answer
        ? answer.failure
        : answer.standby
          ? "a standby (in recovery)"
          : answer.readOnly
            ? "read-only"
            : "a primary";
    return `${host}:${port}: ${what}`;
  });
  const wanted = target === "any" ? "any server" : `a server for target_session_attrs=${target}`;
  throw new ConnectionError(`cannot connect to ${wanted} among ${config}: ${said.join("; ")}`);
}

function suits(answer: { standby: boolean; readOnly: boolean }, target: string): boolean {
  switch (target) {
    case "read-write":
      return !answer.readOnly;
    case "read-only":
      return answer.readOnly;
    case "primary":
      return !answer.standby;
    case "standby":
    case "prefer-standby":
      return answer.standby;
    default:
      return true;
  }
}

/** Connects to the one host of `config` and asks what it is (unless `any` host will do). */
async function ask(
  config: ConnectionConfig,
  pool: Required<PoolOptions>,
  anyWillDo: boolean,
): Promise<Answer> {
  const client = new pg.Client(config.toPgConfig(pool));
  // A server that goes away while it is asked must not crash the process; the query rejects too.
  client.on("error", () => {});
  try {
    await client.connect();
    if (anyWillDo) return { config, standby: false, readOnly: false };
    const { rows } = await client.query<{ standby: boolean; read_only: string }>(
      "select pg_is_in_recovery() as standby, current_setting('transaction_read_only') as read_only",
    );
    return { config, standby: rows[0]?.standby === true, readOnly: rows[0]?.read_only === "on" };
  } catch (error) {
    const { message } = toStoreError(error, config.secrets());
    if (retryWithoutTls(config, message)) {
      return ask(config.withoutTls(), pool, anyWillDo);
    }
    return { failure: message };
  } finally {
    await client.end().catch(() => {});
  }
}
