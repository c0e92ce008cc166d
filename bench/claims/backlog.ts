/**
 * Seeding a shape's backlog: copyRows turns the template job's row into a million time-shifted copies
 * in one INSERT … SELECT … FROM generate_series, reading the table's columns from the catalog; describe
 * says what the template became as stored.
 */
import type { Store } from "../../src/index.js";
import type { Template } from "./shapes.js";

/**
 * A UUIDv7 (as enqueue makes: 48 bits of Unix milliseconds, version 7, random rest) for the time `ts`,
 * so copies' ids are time-ordered like real ones and land on the primary key's right edge.
 */
const uuid7 = (ts: string) =>
  `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
     substring(int8send(floor(extract(epoch from ${ts}) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1),
     'hex')::uuid`;

/**
 * Replaces the template row by `rows` copies of it in one INSERT … SELECT … FROM generate_series. Each
 * copy `g` (1..rows) is shifted back in time by up to an hour (`s.shift`, older for smaller g): every
 * timestamp column moves by it, and its id is a UUIDv7 of its shifted created_at. A copy gets its own
 * payload, lease token (where the template holds one) and one of 100 lease owners; `vary` overrides
 * any column (the template's row is `t`).
 */
export async function copyRows(
  store: Store,
  template: Template,
  rows: number,
  vary: Record<string, string> = {},
) {
  const into = `"${store.schema}".${template.table}`;
  const { rows: columns } = await store.query<{ column_name: string; data_type: string }>(
    `select column_name, data_type from information_schema.columns
      where table_schema = $1 and table_name = $2 and is_generated = 'NEVER' order by ordinal_position`,
    [store.schema, template.table],
  );
  const expressions: Record<string, string> = {
    id: uuid7("t.created_at + s.shift"),
    payload: "jsonb_build_object('n', g)",
    lease_token: "case when t.lease_token is null then null else gen_random_uuid() end",
    lease_owner: "case when t.lease_owner is null then null else t.lease_owner || '-' || (g % 100) end",
    ...vary,
  };
  const select = columns.map(({ column_name: name, data_type: type }) => {
    if (expressions[name] !== undefined) return expressions[name];
    const column = `t."${name.replaceAll('"', '""')}"`;
    return type === "timestamp with time zone" ? `${column} + s.shift` : column;
  });
  await store.query(
    `with t as (select * from ${into} where id = $2),
          s as (select g, ($1::int - g) * (interval '-1 hour' / $1::int) as shift from generate_series(1, $1::int) g)
     insert into ${into} (${columns.map((c) => `"${c.column_name.replaceAll('"', '""')}"`).join(", ")})
     select ${select.join(", ")} from t, s`,
    [rows, template.id],
  );
  await store.query(`delete from ${into} where id = $1`, [template.id]);
}

/** What the template became, as stored: "a jobs row (running, lease expired)". */
export async function describe(store: Store, template: Template): Promise<string> {
  if (template.table === "jobs_history") return "a jobs_history row";
  const { rows } = await store.query<{ status: string; lease: string }>(
    `select status, case when lease_token is null then 'no lease'
                         when lease_expires_at < now() then 'lease expired' else 'lease held' end as lease
       from "${store.schema}".jobs where id = $1`,
    [template.id],
  );
  return `a jobs row (${rows[0]?.status}, ${rows[0]?.lease})`;
}
