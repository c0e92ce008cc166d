import type { StoreContext } from "../store.js";

export class Tasks {
  constructor(protected readonly context: StoreContext) {}
}
