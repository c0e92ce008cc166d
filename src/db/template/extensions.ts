/**
 * The PGlite extensions a new embedded database loads: pgvector, where its PGlite build
 * (@electric-sql/pglite-pgvector, an optional peer) is installed, for FlowstoreStore's semantic index.
 * Loading it costs nothing measurable at start; the extension is created only by a store that needs it.
 */
import type { Extensions } from "@electric-sql/pglite";

let found: Promise<Extensions> | undefined;

export function optionalExtensions(): Promise<Extensions> {
  found ??= import("@electric-sql/pglite-pgvector").then(
    (module: { vector: Extensions[string] }) => ({ vector: module.vector }),
    () => ({}),
  );
  return found;
}
