/**
 * The OpenTelemetry semantic conventions flowstore follows, as plain strings: the conventions package
 * asks libraries not to load its incubating (messaging) names at run time, and these never change
 * once published. Database client spans and metrics are stable; messaging ones are in development.
 */

export const DB_SYSTEM_NAME = "db.system.name";
export const DB_NAMESPACE = "db.namespace";
export const DB_OPERATION_NAME = "db.operation.name";
export const DB_QUERY_SUMMARY = "db.query.summary";
export const DB_RESPONSE_STATUS_CODE = "db.response.status_code";
export const DB_CLIENT_OPERATION_DURATION = "db.client.operation.duration";

export const MESSAGING_SYSTEM = "messaging.system";
export const MESSAGING_OPERATION_NAME = "messaging.operation.name";
export const MESSAGING_OPERATION_TYPE = "messaging.operation.type";
export const MESSAGING_DESTINATION_NAME = "messaging.destination.name";
export const MESSAGING_MESSAGE_ID = "messaging.message.id";
export const MESSAGING_BATCH_MESSAGE_COUNT = "messaging.batch.message_count";
export const MESSAGING_CLIENT_OPERATION_DURATION = "messaging.client.operation.duration";
export const MESSAGING_PROCESS_DURATION = "messaging.process.duration";
export const MESSAGING_CLIENT_SENT_MESSAGES = "messaging.client.sent.messages";
export const MESSAGING_CLIENT_CONSUMED_MESSAGES = "messaging.client.consumed.messages";

export const ERROR_TYPE = "error.type";

/** flowstore's own attributes, under its name as the conventions ask of names they do not define. */
export const EXECUTION_ID = "flowstore.execution.id";
export const STEP_NAME = "flowstore.step.name";
export const STEP_NUMBER = "flowstore.step.number";
export const JOB_NAME = "flowstore.job.name";
export const JOB_ATTEMPT = "flowstore.job.attempt";
/** How long a job waited from when it was due to when a handler started it (seconds). */
export const JOB_SCHEDULE_TO_START = "flowstore.job.schedule_to_start.duration";

/** The value of messaging.system: a custom one, as the conventions allow for systems they do not list. */
export const SYSTEM = "flowstore";

/** The conventions' advised buckets (seconds). */
export const MESSAGING_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
export const DB_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];
