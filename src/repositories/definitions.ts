import type { StoreContext } from "../store.js";

export class Definitions {
  constructor(protected readonly context: StoreContext) {}
}
