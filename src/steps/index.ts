/** What steps/ offers the rest of the store: other folders import it from here, and only this. */

export { deleteStepsOf } from "./steps.js";
