/** What timers/ offers the rest of the store: other folders import it from here, and only this. */

export { deleteTimersOf } from "./timers.js";
