/**
 * The optional peer dependencies stay optional: in a real process where the AWS SDK, protobuf and
 * OpenTelemetry cannot be resolved, `flowstore` loads and a store works; S3 blobs, asked for by
 * S3_BUCKET, are refused before anything is written, with the packages to install.
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
const FIXTURE = fixtureScript("peers-absent.ts");

it("loads and works without the optional peers, and names the S3 packages when S3 is asked for", async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...NODE_FLAGS, "--import", HIDE, FIXTURE, await fileDatabaseUrl(), uniqueSchema("peers")],
    {
      timeout: 60_000,
      env: { ...process.env, HIDE_PACKAGES: "@aws-sdk/,@bufbuild/,@opentelemetry/" },
    },
  );
  const seen = JSON.parse(stdout.trim().split("\n").at(-1) as string);
  expect(seen).toEqual({
    value: "yes",
    refused:
      "S3_BUCKET: S3_BUCKET is set, so blobs go to S3: install @aws-sdk/client-s3 and @aws-sdk/lib-storage (npm install @aws-sdk/client-s3 @aws-sdk/lib-storage)",
  });
});
