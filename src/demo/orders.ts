/** The demo engine's orders: its options and figures, and the orders it makes up. */

export interface OrderEngineOptions {
  /** New orders per second (default 2; 0 starts none, and only finishes what is stored). */
  ratePerSecond?: number;
  /** Stop starting orders after this many in this run (default: no limit). */
  maxOrders?: number;
  /** Chance that one try of reserve-stock fails (default 0.2). */
  failureRate?: number;
  /** How long an order waits for pickup before it ships (default 1500 ms). */
  pickupDelayMs?: number;
  /** How long the payment provider takes to confirm (default 400 ms). */
  paymentDelayMs?: number;
  /** Handlers at once per queue (default 4). */
  concurrency?: number;
  /** Job lease: how soon a crashed engine's jobs run again elsewhere (default 10 s). */
  leaseMs?: number;
  /** The worker's fallback poll (default 250 ms). */
  pollIntervalMs?: number;
  /** Errors the engine survives (default: written to stderr). */
  onError?: (error: unknown) => void;
}

export interface OrderProgress {
  started: number;
  running: number;
  completed: number;
  failed: number;
  /** Jobs waiting or running in the engine's queues. */
  queueDepth: number;
  /** Timers not yet fired. */
  timers: number;
}

export interface StepPayload {
  executionId: string;
  orderId: string;
  rootTaskId: string;
  taskExecId?: string;
}

export interface Order {
  orderId: string;
  customer: string;
  items: Array<{ sku: string; quantity: number; price: number }>;
}

const SKUS = ["kettle", "mug", "teapot", "filter", "beans-1kg", "grinder"];

export function makeOrder(n: number): Order {
  const items = Array.from({ length: 1 + (n % 3) }, (_, i) => ({
    sku: SKUS[(n + i * 2) % SKUS.length] as string,
    quantity: 1 + ((n + i) % 4),
    price: 5 + ((n * 7 + i * 13) % 60),
  }));
  return { orderId: `ORD-${String(n).padStart(6, "0")}`, customer: `customer-${n % 97}`, items };
}
