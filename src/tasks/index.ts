/** What tasks/ offers the rest of the store: other folders import it from here, and only this. */

export { deleteTasksOf, freeTaskIdsOf } from "./ids.js";
