-- The record of applied migrations. Every table flowstore owns lives in the one schema
-- written here as :SCHEMA (the runner substitutes the quoted schema name).
create table :SCHEMA.migrations (
  id integer primary key,
  name text not null,
  checksum text not null,
  applied_at timestamptz not null default now()
);
