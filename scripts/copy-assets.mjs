// tsc copies only TypeScript: the migration files and the test server's launcher ship beside the
// compiled code that reads them.
import { copyFileSync, cpSync } from "node:fs";

cpSync("src/migrations/sql", "dist/migrations/sql", { recursive: true });
copyFileSync("src/testing/postgres-server.mjs", "dist/testing/postgres-server.mjs");
