/**
 * The World's types as a workflow 4.x application meets them: the package's declarations, from the
 * tarball `npm pack` makes (test/support/packed.ts, packed once a run for the tests that install it),
 * compiled in a strict program (its libraries checked too) where
 * @workflow/world is 4.5.0 (spec 3) and `setWorld` is @workflow/core 4.8.9's. `setWorld(createWorld())`
 * and a World typed as 4.x's take no cast: the declarations name only what both lines' World has.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { STRICT_APP_OPTIONS } from "../../support/app-tsconfig.js";
import { packedTarball } from "../../support/packed.js";

// Inside node_modules, so that the declarations' own imports (pg, PGlite...) resolve as installed.
const work = path.resolve("node_modules", `.flowstore-types-v4-${process.pid}`);
const TSC = path.resolve("node_modules/typescript/bin/tsc");
const WORLD_4 = path.resolve("node_modules/@workflow/world-4/dist");

afterAll(() => rmSync(work, { recursive: true, force: true }));

const CONSUMER = `
import type { World } from "@workflow/world";
import { setWorld, start } from "@workflow/core-4/runtime";
import createDefault, { createWorld, type FlowstoreWorld } from "flowstore/workflow";

const world = createWorld();
setWorld(world);
setWorld(createDefault());
setWorld(createWorld({ specVersion: 3 }));
const typed: World = createWorld();
export async function run(): Promise<void> {
  await start({ workflowId: "workflow//app//wf" }, [1], { world });
  await world.start();
  await world.close();
}
export const worlds: [World, FlowstoreWorld] = [typed, world];
// Spec 3's streams: this World is 4.x's.
export const flat = world.writeToStream;
`;

describe("the World's types under workflow 4.x", () => {
  it("type-check setWorld(createWorld()) against @workflow/world 4.5.0 with no cast", {
    timeout: 240_000,
  }, () => {
    mkdirSync(work, { recursive: true });
    execFileSync("tar", ["-xzf", packedTarball(), "-C", work]);
    const dist = path.join(work, "package", "dist");
    // An ES module application, as flowstore is one.
    writeFileSync(path.join(work, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(path.join(work, "consumer.ts"), CONSUMER);
    writeFileSync(
      path.join(work, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          // As test/store/package.test.ts compiles an application, with the 4.x World's types.
          ...STRICT_APP_OPTIONS,
          paths: {
            "flowstore/workflow": [path.join(dist, "adapters/workflow/index.d.ts")],
            "@workflow/world": [path.join(WORLD_4, "index.d.ts")],
            "@workflow/world/*": [path.join(WORLD_4, "*")],
          },
        },
        files: ["consumer.ts"],
      }),
    );
    let output = "";
    try {
      execFileSync(process.execPath, [TSC, "-p", work], { encoding: "utf8", stdio: "pipe" });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    expect(output).toBe("");
  });
});
