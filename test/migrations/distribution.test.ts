/**
 * The Citus distribution check (scripts/check-distribution.mjs): the real migrations hold the plan, and
 * each rule fires on a small schema that breaks it, naming the file, the table and the key. No database.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  CITUS_SESSION,
  checkDistribution,
  citusCalls,
  type Plan,
  readMigrations,
  readPlan,
  readShape,
  type SqlFile,
} from "../../scripts/check-distribution.mjs";

/** Migrations numbered in the order given, with the runner's schema placeholder. */
function files(...sql: string[]): SqlFile[] {
  return sql.map((text, i) => ({ name: `${String(i + 1).padStart(4, "0")}_fixture.sql`, sql: text }));
}

const RUNS = `create table :SCHEMA.runs (id uuid primary key, name text not null);`;
const KINDS = `create table :SCHEMA.kinds (id uuid primary key, name text not null unique);`;

/** runs distributed by id, items co-located by run_id, kinds a reference table. */
function plan(extra: Plan["tables"] = {}): Plan {
  return {
    tables: {
      runs: { kind: "distributed", column: "id", why: "the group" },
      items: { kind: "distributed", column: "run_id", colocateWith: "runs", why: "a run's items" },
      kinds: { kind: "reference", why: "small" },
      ...extra,
    },
  };
}

const ITEMS = `create table :SCHEMA.items (
  run_id uuid not null references :SCHEMA.runs (id) on delete cascade,
  seq integer not null,
  kind_id uuid references :SCHEMA.kinds,
  primary key (run_id, seq)
);`;

describe("the real migrations", () => {
  it("hold the distribution plan", () => {
    expect(checkDistribution(readMigrations(), readPlan())).toEqual([]);
  });

  it("are read whole: every table, with the keys later migrations dropped and made again", () => {
    const { tables, problems } = readShape(readMigrations());
    expect(problems).toEqual([]);
    expect(tables.size).toBe(Object.keys(readPlan().tables).length);
    const jobsKey = tables.get("jobs")?.keys.find((key) => key.name === "jobs_key");
    expect(jobsKey).toMatchObject({ columns: ["queue", "key"], file: "0006_scheduled_jobs.sql" });
    expect(jobsKey?.where).toContain("'scheduled'");
  });

  it("pass the check from the command line, as npm run lint runs it", () => {
    const run = spawnSync(process.execPath, ["scripts/check-distribution.mjs"], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
  });

  it("are distributed in docs/scale-out.md by exactly the calls the plan makes", () => {
    const doc = readFileSync(new URL("../../docs/scale-out.md", import.meta.url), "utf8");
    expect(doc).toContain(citusCalls(readPlan(), readMigrations()).join("\n"));
  });
});

describe("the rules", () => {
  it("passes a co-located schema, with a foreign key to a reference table", () => {
    expect(checkDistribution(files(RUNS, KINDS, ITEMS), plan())).toEqual([]);
  });

  it("refuses a primary key without the distribution column", () => {
    const items = `create table :SCHEMA.items (id uuid primary key, run_id uuid not null);`;
    expect(checkDistribution(files(RUNS, KINDS, items), plan())).toEqual([
      expect.stringMatching(
        /^0003_fixture\.sql: items \(distributed by run_id, co-located with runs\): primary key items_pkey \(id\) lacks the distribution column run_id/,
      ),
    ]);
  });

  it("refuses a unique index or constraint without it, where the last migration left it", () => {
    const problems = checkDistribution(
      files(
        RUNS,
        KINDS,
        ITEMS,
        "alter table :SCHEMA.items add column token text, add constraint items_token unique (token);",
        `create unique index items_seq on :SCHEMA.items (run_id, seq) where seq > 0;
         drop index :SCHEMA.items_seq;
         create unique index items_seq on :SCHEMA.items (seq) where seq > 0;`,
      ),
      plan(),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^0004_fixture\.sql: items .*unique constraint items_token \(token\) lacks/),
      expect.stringMatching(/^0005_fixture\.sql: items .*unique index items_seq \(seq\) where seq > 0 lacks/),
    ]);
  });

  it("passes a key that a later migration fixed, and counts an expression as no column", () => {
    const fixed = files(
      RUNS,
      KINDS,
      ITEMS,
      "create unique index items_bad on :SCHEMA.items (seq);",
      `drop index :SCHEMA.items_bad;
       create unique index items_bad on :SCHEMA.items (run_id, seq);`,
    );
    expect(checkDistribution(fixed, plan())).toEqual([]);
    const expression = files(
      RUNS,
      KINDS,
      ITEMS,
      "create unique index items_expr on :SCHEMA.items (coalesce(run_id, '00000000-0000-0000-0000-000000000000'::uuid), seq);",
    );
    expect(checkDistribution(expression, plan())).toEqual([
      expect.stringMatching(
        /0004_fixture\.sql: items .*unique index items_expr \(coalesce\(run_id, .*\), seq\) lacks/,
      ),
    ]);
  });

  it("refuses a foreign key that crosses executions", () => {
    const parent = "alter table :SCHEMA.items add column parent_run uuid references :SCHEMA.runs (id);";
    expect(checkDistribution(files(RUNS, KINDS, ITEMS, parent), plan())).toEqual([
      expect.stringMatching(
        /^0004_fixture\.sql: items .*: foreign key items_parent_run_fkey \(parent_run\) -> runs \(id\) .*must pair run_id with id/,
      ),
    ]);
  });

  it("refuses a foreign key between groups, from a reference or local table to a distributed one, or to a local one", () => {
    const other = "create table :SCHEMA.others (id uuid primary key, run_id uuid not null);";
    const links = `alter table :SCHEMA.others add constraint others_run foreign key (run_id) references :SCHEMA.runs (id);
      alter table :SCHEMA.kinds add column run_id uuid references :SCHEMA.runs (id);
      create table :SCHEMA.notes (id uuid primary key);
      alter table :SCHEMA.items add column note_id uuid references :SCHEMA.notes;
      alter table :SCHEMA.notes add column run_id uuid references :SCHEMA.runs (id);`;
    const problems = checkDistribution(
      files(RUNS, KINDS, ITEMS, other, links),
      plan({
        others: { kind: "distributed", column: "id", why: "a group of its own" },
        notes: { kind: "local", why: "on the coordinator" },
      }),
    );
    expect(problems).toEqual([
      expect.stringMatching(
        /^0005_fixture\.sql: kinds \(reference\): foreign key kinds_run_id_fkey .*reference table/,
      ),
      expect.stringMatching(
        /^0005_fixture\.sql: items .*foreign key items_note_id_fkey .*local.*coordinator/,
      ),
      expect.stringMatching(/^0005_fixture\.sql: others .*foreign key others_run .*not co-located/),
      expect.stringMatching(
        /^0005_fixture\.sql: notes \(local\): foreign key notes_run_id_fkey .*cannot reference a distributed/,
      ),
    ]);
  });

  it("refuses a table the plan does not classify, and a planned table no migration leaves", () => {
    const extra = files(RUNS, KINDS, ITEMS, "create table :SCHEMA.audit (id uuid primary key);");
    expect(checkDistribution(extra, plan())).toEqual([
      expect.stringMatching(/^0004_fixture\.sql: audit is not in the distribution plan/),
    ]);
    const dropped = files(RUNS, KINDS, ITEMS, "drop table :SCHEMA.items;");
    expect(checkDistribution(dropped, plan())).toEqual([
      "distribution plan: items is in the plan but no migration leaves such a table",
    ]);
  });

  it("accepts a listed exception, fails a new offender beside it, and a stale exception", () => {
    const items = `create table :SCHEMA.items (id uuid primary key, run_id uuid not null, code text unique);`;
    const withExceptions = plan({
      items: {
        kind: "distributed",
        column: "run_id",
        colocateWith: "runs",
        why: "a run's items",
        exceptions: { items_pkey: "a global id, changed on Citus", items_gone: "fixed long ago" },
      },
    });
    expect(checkDistribution(files(RUNS, KINDS, items), withExceptions)).toEqual([
      expect.stringMatching(/^0003_fixture\.sql: items .*unique constraint items_code_key \(code\) lacks/),
      "distribution plan: items: the exception items_gone matches no key that lacks run_id; remove it",
    ]);
  });

  it("refuses a distribution column that is missing, may be null, or differs in type from its group", () => {
    const check = (items: string) => checkDistribution(files(RUNS, KINDS, items), plan());
    expect(check("create table :SCHEMA.items (run uuid not null);")).toEqual([
      expect.stringMatching(/^0003_fixture\.sql: items .*: there is no column run_id/),
    ]);
    expect(check("create table :SCHEMA.items (run_id uuid, seq integer);")).toEqual([
      expect.stringMatching(/^0003_fixture\.sql: items .*: the distribution column run_id may be null/),
    ]);
    expect(check("create table :SCHEMA.items (run_id text not null);")).toEqual([
      expect.stringMatching(/^0003_fixture\.sql: items .*: run_id is text, but the group's runs\.id is uuid/),
    ]);
  });

  it("reports DDL it cannot read instead of guessing", () => {
    const like = files(RUNS, KINDS, ITEMS, "create table :SCHEMA.copy (like :SCHEMA.items);");
    expect(checkDistribution(like, plan())).toEqual(
      expect.arrayContaining([expect.stringMatching(/^0004_fixture\.sql: "create table copy.*like/)]),
    );
    const exclusion = files(
      RUNS,
      KINDS,
      ITEMS,
      "alter table :SCHEMA.items add exclude using gist (seq with =);",
    );
    expect(checkDistribution(exclusion, plan())[0]).toMatch(/^0004_fixture\.sql: .*exclusion constraints/);
  });

  it("orders the Citus calls: reference tables, then each group's first table before the others", () => {
    expect(citusCalls(plan(), files(RUNS, KINDS, ITEMS), "app")).toEqual([
      ...CITUS_SESSION,
      "select create_reference_table('app.kinds');",
      "select create_distributed_table('app.runs', 'id', colocate_with => 'none');",
      "select create_distributed_table('app.items', 'run_id', colocate_with => 'app.runs');",
    ]);
  });
});
