/** What definitions/ offers the rest of the store: other folders import it from here, and only this. */

export { Definitions } from "./definitions.js";
