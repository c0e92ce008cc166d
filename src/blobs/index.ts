/** What blobs/ offers the rest of the store: other folders import it from here, and only this. */

export {
  deleteBlob,
  deleteBlobsOf,
  deleteBlobsUnder,
  deleteBlobsUnderBut,
  namedBlobsDeletedSql,
  releasedContentSql,
} from "./garbage.js";
export { put as putBlob } from "./put.js";
export { readWhole as readBlob } from "./read.js";
