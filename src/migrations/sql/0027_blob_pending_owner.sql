-- 0027_blob_pending_owner
-- A put inside a repeatable read or serializable transaction writes its content on another connection,
-- but the transaction's snapshot cannot see the pending record to claim it. The record names that
-- transaction instead; collectGarbage() leaves it alone until its snapshot sees the owner ended.
alter table :SCHEMA.blob_pending add column owner xid8;
