/** What kv/ offers the rest of the store: other folders import it from here, and only this. */

export { deleteKvOf } from "./kv.js";
