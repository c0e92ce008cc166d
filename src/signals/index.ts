/** What signals/ offers the rest of the store: other folders import it from here, and only this. */

export { deleteSignalsOf } from "./signals.js";
