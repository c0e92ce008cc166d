-- 0009_blob_store_identity
-- The name under which this store writes blob content outside PostgreSQL (S3): objects go to
-- `<prefix><id>/<content id>`. On one connection a put inside a transaction can record its upload only
-- once the transaction ends, so a process that dies in between leaves an object no table names;
-- collectGarbage() finds such objects by listing this store's name, never another store's sharing the
-- bucket. One row, made when a store with S3 content first opens. `fingerprint` names the database it
-- was made in (cluster, database, this table): a copy of the database (restored from a dump, or made
-- from a template) sees another and takes a new id, so it never takes the original's new objects for
-- its own orphans. `swept_through` is the last object name the sweep has looked at.
create table :SCHEMA.blob_namespace (
  singleton boolean primary key default true check (singleton),
  id uuid not null,
  fingerprint text not null,
  swept_through text collate "C" not null default '',
  created_at timestamptz not null default now()
);
