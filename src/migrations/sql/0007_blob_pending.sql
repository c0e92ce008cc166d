-- 0007_blob_pending
-- Blob content is written before (and outside) the transaction that points a key at it. Until that
-- commits, the content id is recorded here with the time it was started; content still pending after
-- a grace period belongs to a put that rolled back or never finished, and collectGarbage() removes it.
create table :SCHEMA.blob_pending (
  id uuid primary key,
  backend text not null,
  location text,
  created_at timestamptz not null default now()
);

create index blob_pending_created_at on :SCHEMA.blob_pending (created_at);
