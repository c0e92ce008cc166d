import type { StoreContext } from "../store.js";

export class Blobs {
  constructor(protected readonly context: StoreContext) {}
}
