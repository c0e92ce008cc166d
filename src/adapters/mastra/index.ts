/**
 * flowstore/mastra: Mastra's storage on a flowstore store. `FlowstoreMastraStorage` is a
 * MastraCompositeStore whose workflows domain keeps runs in Mastra's own table of them (a step's update
 * writes that step) and whose memory domain keeps threads, messages and resources in flowstore's tables.
 */

export { FlowstoreMastraMemory } from "./memory/memory.js";
export { FlowstoreMastraStorage, type FlowstoreMastraStorageOptions } from "./storage.js";
export { FlowstoreMastraWorkflows } from "./workflows.js";
