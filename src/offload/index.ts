/** What offload/ offers the rest of the store: other folders import it from here, and only this. */

export {
  discard,
  keepIfWritten,
  mergeTopLevel,
  OFFLOADED,
  type OffloadedKind,
  offload,
  offloadPrefix,
  offloads,
  putValue,
  type Reference,
  ReferenceMoved,
  readReferenced,
  referencedKey,
  referencedKeySql,
  referenceJson,
  referenceOf,
  refuseReserved,
  rereadMoved,
  resolve,
  resolveEach,
} from "./values.js";
