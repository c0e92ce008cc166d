import type { StoreContext } from "../store.js";

export class Executions {
  constructor(protected readonly context: StoreContext) {}
}
