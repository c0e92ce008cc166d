import type { StoreContext } from "../store.js";

export class KeyValue {
  constructor(protected readonly context: StoreContext) {}
}
