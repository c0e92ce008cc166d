/**
 * The store's own name in a blob backend it may share with other stores, and the sweep that lists it.
 * On one connection, a put inside a transaction uploads at once but can record the object only when
 * the transaction ends; a process that dies in between leaves an object no table names. Such objects
 * are found by listing the namespace, oldest first (content ids are UUIDv7, so name order is time
 * order), from where the last sweep stopped: whatever is past the grace period and named by no blob,
 * pending record or garbage record becomes garbage. Only objects named like the content ids this
 * store writes are ever taken; other names under the namespace, and other namespaces, are left alone.
 */

import type { StoreContext } from "../core/context.js";
import { StoreError } from "../core/errors.js";
import type { Driver } from "../db/driver.js";
import { blobIO, configuredBackend } from "./rows.js";

/** A content id as uuidv7() writes it: lower case, version 7. */
const CONTENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The most names asked of the backend at once (S3 answers at most 1,000). */
const PAGE = 1000;

/**
 * Reads the store's namespace into `context.blobNamespace`, making it on first use, and anew in a copy
 * of the database (whose fingerprint differs from the one recorded). Only for a backend that is not
 * transactional; left unknown while the schema lacks the table (a store opened with `migrate: false`).
 */
export async function loadBlobNamespace(
  context: Pick<StoreContext, "q" | "blobBackend" | "blobNamespace"> & { driver: Driver },
): Promise<void> {
  const { driver, q } = context;
  if (!context.blobBackend || context.blobBackend.transactional) return;
  // The cluster's identifier tells a restored dump from the original; a server that keeps it from
  // its users still has the database's and the table's oids.
  const cluster = await driver
    .query<{ id: string }>("select system_identifier::text as id from pg_control_system()")
    .then(({ rows }) => rows[0]?.id ?? "")
    .catch(() => "");
  try {
    await driver.query(
      `insert into ${q}.blob_namespace as n (id, fingerprint)
       select gen_random_uuid(), concat_ws('/', $1::text, d.oid, to_regclass($2)::oid)
       from pg_database d where d.datname = current_database()
       on conflict (singleton) do update
         set id = excluded.id, fingerprint = excluded.fingerprint, swept_through = '', created_at = now()
         where n.fingerprint <> excluded.fingerprint`,
      [cluster, `${q}.blob_namespace`],
    );
  } catch (error) {
    if (error instanceof StoreError && (error.sqlState === "42P01" || error.sqlState === "3F000")) return;
    throw error;
  }
  const { rows } = await driver.query<{ id: string }>(`select id from ${q}.blob_namespace`);
  context.blobNamespace.id = rows[0]?.id;
}

/**
 * Looks at up to `limit` objects of the namespace not looked at yet, oldest first, stopping at the
 * first younger than the grace period, and records as garbage those nothing points to. Cheap when
 * nothing is orphaned: one listing request that starts at the young end.
 */
export async function sweepNamespace(context: StoreContext, limit: number, graceMs: number): Promise<void> {
  const backend = configuredBackend(context);
  const namespace = context.blobNamespace.id;
  if (backend.transactional || !backend.list || namespace === undefined || limit <= 0) return;
  const { db, q } = context;
  const { rows } = await db.query<{ swept_through: string; cutoff: Date }>(
    `select swept_through, now() - $2 * interval '1 millisecond' as cutoff
     from ${q}.blob_namespace where id = $1`,
    [namespace, graceMs],
  );
  const state = rows[0];
  if (!state) return;
  const cutoff = state.cutoff.getTime();
  const io = blobIO(context);
  let after = state.swept_through;
  let looked = 0;
  let reachedYoung = false;
  while (looked < limit && !reachedYoung) {
    const page = await backend.list(io, after, Math.min(PAGE, limit - looked));
    const old: { id: string; location: string }[] = [];
    for (const { name, location, modified } of page.contents) {
      if (CONTENT_ID.test(name)) {
        // Younger by its id (made when the put started) or by the backend's clock: it, and all after
        // it, wait for a later sweep.
        if (idTime(name) >= cutoff || (modified && modified.getTime() >= cutoff)) {
          reachedYoung = true;
          break;
        }
        old.push({ id: name, location });
      }
      after = location;
      looked++;
    }
    if (old.length > 0) {
      await db.query(
        `insert into ${q}.blob_garbage (id, backend, location)
         select o.id, $3, o.location from unnest($1::uuid[], $2::text[]) as o(id, location)
         where not exists (select 1 from ${q}.blobs b where b.id = o.id)
           and not exists (select 1 from ${q}.blob_pending p where p.id = o.id)
         on conflict (id) do nothing`,
        [old.map((o) => o.id), old.map((o) => o.location), backend.kind],
      );
    }
    if (!page.more) break;
  }
  if (after !== state.swept_through) {
    await db.query(`update ${q}.blob_namespace set swept_through = $2 where id = $1`, [namespace, after]);
  }
}

/** The Unix milliseconds a UUIDv7 was made at. */
function idTime(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
