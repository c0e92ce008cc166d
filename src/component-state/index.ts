/** What component-state/ offers the rest of the store: other folders import it from here, and only this. */

export { deleteComponentStateOf } from "./component-state.js";
