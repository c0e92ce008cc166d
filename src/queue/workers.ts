/**
 * Who holds the queue's leases: the running jobs grouped by the worker that leased them (its
 * workerId) and queue, with the last sign of life of each (its latest claim or heartbeat) and its
 * soonest lease expiry, and for a worker of `jobs.work` how many claims it has made (its running jobs'
 * latest claim number: two readings apart give its claims per second). Read through the index of running jobs, which holds only the work in hand.
 */

import type { StoreContext } from "../core/context.js";
import type { WorkerLeases } from "./types.js";

export async function workers(context: StoreContext, queue?: string): Promise<WorkerLeases[]> {
  const { rows } = await context.db.query<{
    worker_id: string;
    queue: string;
    running: number;
    last_seen_at: Date;
    next_expiry_at: Date;
    claims: string | null;
  }>(
    `select lease_owner as worker_id, queue, count(*)::int as running, max(updated_at) as last_seen_at,
            min(lease_expires_at) as next_expiry_at, max(reserved_batch)::text as claims
       from ${context.q}.jobs
      where status = 'running' and lease_owner is not null and ($1::text is null or queue = $1)
      group by lease_owner, queue
      order by queue, lease_owner`,
    [queue ?? null],
  );
  return rows.map((row) => ({
    workerId: row.worker_id,
    queue: row.queue,
    running: row.running,
    lastSeenAt: row.last_seen_at,
    nextExpiryAt: row.next_expiry_at,
    claims: row.claims === null ? null : Number(row.claims),
  }));
}
