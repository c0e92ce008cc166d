/**
 * Which World spec a World serves. The Workflow SDK's stable line (workflow 4.x, @workflow/world 4.5)
 * speaks spec 3, its 5.0 betas up to beta.41 spec 5; the two differ in the streams' calls and the
 * errors' shapes. The spec is what the installed @workflow/world declares, read with require() (the
 * 4.x runtime loads a World module with require(), so nothing here may await at the top), unless the
 * caller names one.
 */

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { ValidationError } from "../../index.js";

export type SpecVersion = 3 | 5;

/** The SDK releases each spec this adapter serves belongs to. */
export const SERVED: Record<SpecVersion, string> = {
  3: "workflow 4.x",
  5: "workflow 5.0.0-beta.35–41",
};

const SERVED_TEXT = "World spec 3 (workflow 4.x) and spec 5 (workflow 5.0.0-beta.35–41)";

/** What the installed @workflow/world says of itself; undefined fields when it is not installed. */
export interface InstalledWorld {
  version?: string;
  spec?: number;
}

let installed: InstalledWorld | undefined;

/** The @workflow/world this module resolves (the application's, beside flowstore), read once. */
export function installedWorld(): InstalledWorld {
  if (installed) return installed;
  const require = createRequire(import.meta.url);
  installed = {};
  try {
    const file = require.resolve("@workflow/world/spec-version.js");
    const { SPEC_VERSION_CURRENT } = require(file) as { SPEC_VERSION_CURRENT?: unknown };
    if (typeof SPEC_VERSION_CURRENT === "number") installed.spec = SPEC_VERSION_CURRENT;
    const pkg = JSON.parse(readFileSync(path.join(path.dirname(file), "..", "package.json"), "utf8"));
    if (typeof pkg.version === "string") installed.version = pkg.version;
  } catch {
    // Not installed (the types are an optional peer): the beta's spec, as before.
  }
  return installed;
}

/**
 * The spec a World serves: the one asked for, else the installed @workflow/world's (5 when none is
 * installed). Anything else is refused here, at createWorld, not at the first run.
 */
export function chooseSpec(asked: unknown, world: InstalledWorld = installedWorld()): SpecVersion {
  if (asked !== undefined) {
    if (asked === 3 || asked === 5) return asked;
    throw new ValidationError(
      `specVersion must be 3 (${SERVED[3]}) or 5 (${SERVED[5]}), not ${JSON.stringify(asked)}`,
      { field: "specVersion" },
    );
  }
  const spec = world.spec ?? 5;
  if (spec === 3 || spec === 5) return spec;
  throw new ValidationError(
    `flowstore/workflow serves ${SERVED_TEXT}; the installed @workflow/world ` +
      `${world.version ?? "(version unknown)"} declares spec ${spec}: install a workflow release of one ` +
      "of those lines",
    { field: "specVersion" },
  );
}

/** The SDK line a spec belongs to: 3 and below are the 4.x line, 4 and above the 5.0 line. */
export function lineOf(spec: number): SpecVersion {
  return spec <= 3 ? 3 : 5;
}
