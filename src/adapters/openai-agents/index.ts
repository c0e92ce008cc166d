/**
 * flowstore/openai-agents: the OpenAI Agents SDK's conversation sessions on a flowstore store.
 * `FlowstoreSession` is a `Session` with every optional capability a durable store serves (history
 * mutations, history transactions, compaction replacement).
 */

export { FlowstoreSession, type FlowstoreSessionOptions } from "./session.js";
