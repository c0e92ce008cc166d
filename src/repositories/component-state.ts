import type { StoreContext } from "../store.js";

export class ComponentState {
  constructor(protected readonly context: StoreContext) {}
}
