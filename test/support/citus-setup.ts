/**
 * Set up for each test file of a Citus run (`npm run test:citus`): a test that does not apply on Citus
 * (test/support/citus-differs.ts) is skipped, its reason in the report.
 */
import path from "node:path";
import { beforeEach } from "vitest";
import { differsOnCitus } from "./citus-differs.js";

beforeEach((context) => {
  const file = path.relative(process.cwd(), context.task.file.filepath);
  const why = differsOnCitus(file, context.task.name);
  if (why) context.skip(why);
});
