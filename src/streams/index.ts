/** What streams/ offers the rest of the store: other folders import it from here, and only this. */

export { deletePassedStreams, deleteStreamsOf } from "./streams.js";
