-- 0020_durable_state_blobs
-- A snapshot larger than limits.offloadAbove is kept in the blob store: its row holds the blob's key
-- here and an empty payload, so the table stays small however large the actors' states grow.
alter table :SCHEMA.durable_state add column payload_blob text;
