-- 0039_step_attempts
-- How many times a step ran before the outcome recorded, when the engine says (steps.record's
-- `attempts`): the run page and `flowstore executions show` print it beside the step. Null for steps
-- recorded without it. A column with no default: adding it rewrites nothing.
alter table :SCHEMA.steps add column attempts integer check (attempts >= 1);
