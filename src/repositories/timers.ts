import type { StoreContext } from "../store.js";

export class Timers {
  constructor(protected readonly context: StoreContext) {}
}
