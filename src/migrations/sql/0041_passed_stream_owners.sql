-- 0041_passed_stream_owners
-- A stream a run passes on, such as a ReadableStream a Workflow SDK 4.x step returns (`strm_<ULID>`),
-- is read by its name alone and belongs to no run: its owner is a UUIDv8 made from the name, its first
-- 48 bits the stream's time (adapters/workflow/spec3.ts). store.prune() deletes those from before its
-- cut. This index holds their streams alone, so that sweep reads them and nothing else: the streams of
-- runs, under UUIDv7 (or the SDK's run ids), are never in it.
create index streams_passed_on on :SCHEMA.streams (execution_id) where substr(execution_id::text, 15, 1) = '8';
