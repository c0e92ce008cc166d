/** What retention/ offers the rest of the store: Mastra's runs' layout, which the adapter and the dashboard share with the prune. */

export {
  deleteMastraRunHoldings,
  mastraBlobPrefix,
  mastraRunIdOf,
  mastraRunKey,
} from "./mastra-tables.js";
