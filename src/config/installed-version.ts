/**
 * The version of an installed package, read from its own package.json: the one above its entry point
 * that names it (packages need not export their package.json, and entry points sit at any depth).
 */

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

/** `name`'s version as resolved from the module at `from` (its import.meta.url); undefined when not found. */
export function installedVersion(name: string, from: string): string | undefined {
  let dir: string;
  try {
    dir = path.dirname(createRequire(from).resolve(name));
  } catch {
    return undefined;
  }
  for (let parent = dir; ; dir = parent, parent = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
      if (manifest.name === name) return String(manifest.version);
    } catch {
      // Not the package's root yet.
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}
