/** The order-fulfilment workflow the example engine runs, as a stored, versioned definition. */

import { ConflictError, type Definition, type Store } from "../index.js";

export const DEFINITION_NAME = "order-fulfilment";
export const DEFINITION_VERSION = 1;

/** The steps, for people and dashboards; the engine's handlers implement them. */
export const ORDER_FULFILMENT = {
  description: "validate, then reserve stock and charge in parallel, wait for pickup, ship",
  steps: [
    { id: "validate", next: ["reserve-stock", "charge"] },
    { id: "reserve-stock", parallel: true, retries: 4 },
    { id: "charge", parallel: true, waitsFor: "payment confirmed (correlation payment:<orderId>)" },
    { id: "wait-for-pickup", timer: "ship" },
    { id: "ship", artifact: "invoices/<orderId>.json" },
  ],
};

/** Registers the definition once (version 1, active); a second engine, or a restart, finds it. */
export async function registerDefinition(store: Store): Promise<Definition> {
  const existing = await store.definitions.find(DEFINITION_NAME, DEFINITION_VERSION);
  if (existing) return existing;
  try {
    return await store.definitions.create({
      name: DEFINITION_NAME,
      version: DEFINITION_VERSION,
      definition: ORDER_FULFILMENT,
      status: "active",
    });
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    return (await store.definitions.find(DEFINITION_NAME, DEFINITION_VERSION)) as Definition;
  }
}
