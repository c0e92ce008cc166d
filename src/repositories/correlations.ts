import type { StoreContext } from "../store.js";

export class Correlations {
  constructor(protected readonly context: StoreContext) {}
}
