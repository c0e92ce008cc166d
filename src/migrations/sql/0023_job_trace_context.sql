-- 0023_job_trace_context
-- The trace an enqueue ran in (W3C traceparent and tracestate, as JSON text), stored when the store
-- has OpenTelemetry, so that the job's processing continues that trace in whichever process runs it.
-- Null otherwise: a null column costs a bit in the row's null bitmap, nothing else.
alter table :SCHEMA.jobs add column trace_context text;
