/** The example engine the demo runs (also importable from examples/order-engine). */
export { DEFINITION_NAME, ORDER_FULFILMENT, registerDefinition } from "./definition.js";
export {
  ORDERS_QUEUE,
  OrderEngine,
  type OrderEngineOptions,
  type OrderProgress,
  PAYMENTS_QUEUE,
  startOrderEngine,
} from "./engine.js";
export { formatProgress, type ProgressLineOptions, startProgressLine } from "./progress.js";
