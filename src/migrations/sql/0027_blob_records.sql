-- 0027_blob_records
-- A put inside a repeatable read or serializable transaction writes its content on another connection,
-- but the transaction's snapshot cannot see the pending record to claim it. The record names that
-- transaction instead; collectGarbage() leaves it alone until its snapshot sees the owner ended.
alter table :SCHEMA.blob_pending add column owner xid8;

-- collectGarbage() takes the oldest garbage first (order by created_at limit n): with 5,000 records,
-- a walk of this index took 0.7 ms where a scan and sort of the table took 20 ms.
create index blob_garbage_created_at on :SCHEMA.blob_garbage (created_at);
