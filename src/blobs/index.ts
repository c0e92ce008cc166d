/** What blobs/ offers the rest of the store: other folders import it from here, and only this. */

export { deleteBlobsOf } from "./garbage.js";
