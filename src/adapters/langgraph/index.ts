/**
 * flowstore/langgraph: LangGraph.js's checkpointer (`FlowstoreSaver`, a BaseCheckpointSaver) and
 * long-term memory (`FlowstoreStore`, a BaseStore) on a flowstore store.
 */

export { FlowstoreSaver, type FlowstoreSaverOptions } from "./saver.js";
export type { CheckpointPruneResult, CheckpointRetention } from "./saver-retention.js";
export { FlowstoreStore, type FlowstoreStoreOptions } from "./store.js";
