/**
 * Without `@opentelemetry/api` installed (a real process where it cannot be resolved), the store
 * loads nothing of it and works as ever; asking for telemetry then says what to install.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { fixtureScript } from "../support/fixture-process.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";
import { NODE_FLAGS } from "../support/node-flags.js";

const HIDE = pathToFileURL(path.resolve("test/fixtures/hide-packages.mjs")).href;
const FIXTURE = fixtureScript("telemetry-absent.ts");

it("works without @opentelemetry/api, and refuses telemetry: true with what to install", async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...NODE_FLAGS, "--import", HIDE, FIXTURE, await fileDatabaseUrl(), uniqueSchema("absent")],
    { timeout: 60_000 },
  );
  const seen = JSON.parse(stdout.trim().split("\n").at(-1) as string);
  expect(seen).toEqual({
    apiFound: false,
    claimed: "x",
    traceContext: null,
    refused: expect.stringMatching(/^telemetry: .*npm install @opentelemetry\/api/),
  });
});
