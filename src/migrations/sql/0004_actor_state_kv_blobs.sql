-- 0004_actor_state_kv_blobs
-- Actor snapshots (durableState), a key-value space (kv) and large binary objects (blobs).

-- One row per actor: its latest snapshot. Writes only move `version` forward (checked by the
-- repository in the same statement), so a stale writer can never overwrite a newer snapshot.
create table :SCHEMA.durable_state (
  persistence_id text collate "C" primary key,
  version bigint not null check (version >= 0),
  payload bytea not null,
  manifest text not null,
  "timestamp" timestamptz not null default now(),
  shard integer not null default 0
);

-- list({ shard }) walks one shard in persistence_id order (keyset pagination).
create index durable_state_shard on :SCHEMA.durable_state (shard, persistence_id);

-- (prefix, key) -> bytes. Byte-order ("C") collation: keys sort the same on every server and
-- locale, and keyset pagination by key is served by the primary key.
create table :SCHEMA.kv (
  prefix text collate "C" not null,
  key text collate "C" not null,
  value bytea not null,
  version bigint not null default 1,
  expires_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (prefix, key)
);

-- The sweeper deletes expired entries oldest first; rows without a TTL stay out of this index.
create index kv_expires_at on :SCHEMA.kv (expires_at) where expires_at is not null;

-- Blob metadata, whatever the backend. `id` is new on every put: content is stored under the id,
-- never under the key, so replacing a blob never touches the content a reader is streaming, and a
-- put that fails or rolls back never overwrites what the key points to.
create table :SCHEMA.blobs (
  key text collate "C" primary key,
  id uuid not null unique,
  backend text not null,
  -- The backend's own address for the content (the S3 object key); null for chunks in PostgreSQL.
  location text,
  size bigint not null check (size >= 0),
  sha256 text not null,
  content_type text,
  chunk_size integer,
  created_at timestamptz not null default now()
);

-- Content of blobs kept in PostgreSQL: chunk `seq` holds bytes [seq * chunk_size, (seq + 1) * chunk_size).
-- No foreign key: chunks are written before the metadata row exists (its size and hash are known only
-- at the end), in the same transaction.
create table :SCHEMA.blob_chunks (
  blob_id uuid not null,
  seq integer not null,
  data bytea not null,
  primary key (blob_id, seq)
);

-- Blob content is mostly compressed already: skip TOAST compression (CPU for nothing) and let a range
-- read fetch only the slices it needs.
alter table :SCHEMA.blob_chunks alter column data set storage external;

-- Content outside PostgreSQL (S3) that a delete or a replace made unreachable. Recorded in the same
-- transaction as the metadata change, so a rollback forgets it; removed from the backend after commit.
create table :SCHEMA.blob_garbage (
  id uuid primary key,
  backend text not null,
  location text not null,
  created_at timestamptz not null default now()
);
