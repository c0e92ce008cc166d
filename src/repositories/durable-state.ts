import type { StoreContext } from "../store.js";

export class DurableState {
  constructor(protected readonly context: StoreContext) {}
}
