/**
 * Which queues exist. A queue exists from its first count (its first enqueue, or a claim by hand), its
 * limits (setLimits) or its pause, until retention removes its counts (forgetIdleQueues) or an operator
 * forgets it (forget); jobs.stats(), the dashboard, the command and /metrics show it meanwhile, idle or
 * not. Its counts are what remembers it: they only grow while it exists, and go only with it.
 *
 * Retention removes a queue's counts once they have not grown since the prune's cut and it holds no job,
 * no limits, no pause, so a queue used once long ago does not stay in /metrics for ever.
 */

import type { SqlContext, StoreContext } from "../core/context.js";
import { ConflictError } from "../core/errors.js";
import { checkText } from "../core/payload.js";
import { holdsJobs } from "./stats.js";

/**
 * Forgets a queue that holds no job: its counts, its limits, its pause, its groups. True when there was
 * anything to forget. A queue that still holds jobs (waiting, scheduled, running or dead, whatever their
 * status) is refused with ConflictError and nothing is removed: cancel them, or let them finish, first.
 */
export async function forget(context: StoreContext, queue: string): Promise<boolean> {
  const name = checkText(queue, "queue");
  const q = context.q;
  const tables = ["queue_totals", "queue_total_additions", "queue_limits", "queue_pauses"];
  const groups = ["job_groups", "job_group_wakeups", "job_throttles"];
  const { rows } = await context.db.query<{ held: boolean; known: boolean }>(
    `with held as materialized (select ${holdsJobs(q, "$1")} as yes),
     ${[...tables, ...groups]
       .map(
         (table) =>
           `gone_${table} as (delete from ${q}.${table} where queue = $1 and not (select yes from held) returning 1)`,
       )
       .join(",\n     ")}
     select (select yes from held) as held,
            ${tables.map((table) => `exists (select 1 from gone_${table})`).join(" or ")} as known`,
    [name],
  );
  if (rows[0]?.held) {
    throw new ConflictError(
      `queue ${name} still holds jobs: cancel them or let them finish before forgetting it; nothing was removed`,
    );
  }
  return rows[0]?.known === true;
}

/**
 * Retention's part (see the header): removes the counts of each queue whose counts last grew before
 * `before` and that holds no job, no limits, no pause and no counts not yet folded. Returns how many
 * queues went. A count that grows meanwhile keeps its row (its time is tested again as it is deleted).
 */
export async function forgetIdleQueues({ db, q }: SqlContext, before: Date): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `with idle as (
       select t.queue from ${q}.queue_totals t group by t.queue having max(t.updated_at) < $1
       except select queue from ${q}.queue_total_additions
       except select queue from ${q}.queue_limits
       except select queue from ${q}.queue_pauses),
     gone as (
       delete from ${q}.queue_totals t using idle i
        where t.queue = i.queue and t.updated_at < $1 and not (${holdsJobs(q, "i.queue")})
       returning t.queue)
     select count(distinct queue)::int as n from gone`,
    [before],
  );
  return rows[0]?.n ?? 0;
}
