/**
 * flowstore/langgraph: LangGraph.js's checkpointer (`FlowstoreSaver`, a BaseCheckpointSaver) and
 * long-term memory (`FlowstoreStore`, a BaseStore, with semantic search) on a flowstore store.
 */

export { FlowstoreSaver, type FlowstoreSaverOptions } from "./saver.js";
export type { CheckpointPruneResult, CheckpointRetention } from "./saver-retention.js";
export { type FlowstoreSearchOptions, FlowstoreStore, type FlowstoreStoreOptions } from "./store.js";
export type {
  DistanceMetric,
  Embeddings,
  EmbeddingsFunc,
  StoreIndexConfig,
  VectorIndexType,
} from "./store-index.js";
export type { SearchMode, SearchRanking } from "./store-search.js";
