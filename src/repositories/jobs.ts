import type { StoreContext } from "../store.js";

export class Jobs {
  constructor(protected readonly context: StoreContext) {}
}
