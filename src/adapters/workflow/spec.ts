/**
 * Which World spec a World serves. The Workflow SDK's stable line (workflow 4.x, @workflow/world 4.5)
 * speaks spec 3, its 5.0 betas up to beta.41 spec 5, and from beta.42 specs 6 and 7 (the slot line:
 * an event's id is its position in its run's log, `evnt_` and 26 digits); 3 and 5 differ in the
 * streams' calls and the errors' shapes, 5 and the slot line in the events' ids. The spec is what the
 * installed @workflow/world declares (from beta.29 on, what it mints: 7, or 6 with
 * WORKFLOW_SEALED_LOG=0), read with require() (the 4.x runtime loads a World module with require(), so
 * nothing here may await at the top), unless the caller names one.
 */

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { ValidationError } from "../../index.js";

export type SpecVersion = 3 | 5 | 6 | 7;

/** A line of the SDK: 3 (4.x), 5 (the betas to 41) or 6 (the slot line, specs 6 and 7, betas from 42). */
export type Line = 3 | 5 | 6;

/** The SDK releases each line this adapter serves belongs to. */
export const SERVED: Record<Line, string> = {
  3: "workflow 4.x",
  5: "workflow 5.0.0-beta.35–41",
  6: "workflow 5.0.0-beta.42 and later",
};

const SERVED_TEXT =
  "World spec 3 (workflow 4.x), spec 5 (workflow 5.0.0-beta.35–41) and specs 6 and 7 (workflow 5.0.0-beta.42 and later)";

const SPECS: readonly number[] = [3, 5, 6, 7];

/** What the installed @workflow/world says of itself; undefined fields when it is not installed. */
export interface InstalledWorld {
  version?: string;
  spec?: number;
}

/** The installed @workflow/world's spec module and version, read once (null: not installed). */
interface Declared {
  module: { SPEC_VERSION_CURRENT?: unknown; mintedSpecVersion?: unknown };
  version?: string;
}
let declared: Declared | null | undefined;

function readDeclared(): Declared | null {
  if (declared !== undefined) return declared;
  const require = createRequire(import.meta.url);
  try {
    const file = require.resolve("@workflow/world/spec-version.js");
    const module = require(file) as Declared["module"];
    const pkg = JSON.parse(readFileSync(path.join(path.dirname(file), "..", "package.json"), "utf8"));
    declared = { module, version: typeof pkg.version === "string" ? pkg.version : undefined };
  } catch {
    declared = null; // not installed (the types are an optional peer): the beta's spec, as before
  }
  return declared;
}

/**
 * The @workflow/world this module resolves (the application's, beside flowstore). Its spec is asked at
 * each call, not once: from 5.0.0-beta.29 on a World declares what it mints (7, or 6 with
 * WORKFLOW_SEALED_LOG=0), which the SDK reads at each createWorld() so that one process can make
 * Worlds in both modes.
 */
export function installedWorld(): InstalledWorld {
  const found = readDeclared();
  if (!found) return {};
  const { module, version } = found;
  const minted = typeof module.mintedSpecVersion === "function" ? module.mintedSpecVersion() : undefined;
  const spec = typeof minted === "number" ? minted : module.SPEC_VERSION_CURRENT;
  return { ...(version === undefined ? {} : { version }), ...(typeof spec === "number" ? { spec } : {}) };
}

/**
 * The spec a World serves: the one asked for, else the installed @workflow/world's (5 when none is
 * installed). Anything else is refused here, at createWorld, not at the first run.
 */
export function chooseSpec(asked: unknown, world: InstalledWorld = installedWorld()): SpecVersion {
  if (asked !== undefined) {
    if (SPECS.includes(asked as number)) return asked as SpecVersion;
    throw new ValidationError(
      `specVersion must be 3 (${SERVED[3]}), 5 (${SERVED[5]}), 6 or 7 (${SERVED[6]}), not ${JSON.stringify(asked)}`,
      { field: "specVersion" },
    );
  }
  const spec = world.spec ?? 5;
  if (SPECS.includes(spec)) return spec as SpecVersion;
  throw new ValidationError(
    `flowstore/workflow serves ${SERVED_TEXT}; the installed @workflow/world ` +
      `${world.version ?? "(version unknown)"} declares spec ${spec}: install a workflow release of one ` +
      "of those lines",
    { field: "specVersion" },
  );
}

/**
 * The SDK line a spec belongs to: 3 and below are the 4.x line, 4 and 5 the early betas', 6 and above
 * the slot line's (whose runs number their events by position).
 */
export function lineOf(spec: number): Line {
  return spec <= 3 ? 3 : spec <= 5 ? 5 : 6;
}
