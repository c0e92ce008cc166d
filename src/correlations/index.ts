/** What correlations/ offers the rest of the store: other folders import it from here, and only this. */

export { deleteCorrelationsOf } from "./correlations.js";
