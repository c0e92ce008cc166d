// tsc copies only TypeScript: the migration files and the test server's launcher ship beside the
// compiled code that reads them. The migrations' folder is copied afresh: a file renamed or removed in
// src/ must not stay in dist/, where the runner would count it (and refuse a gap in the numbering).
import { copyFileSync, cpSync, rmSync } from "node:fs";

rmSync("dist/migrations/sql", { recursive: true, force: true });
cpSync("src/migrations/sql", "dist/migrations/sql", { recursive: true });
copyFileSync("src/testing/postgres-server.mjs", "dist/testing/postgres-server.mjs");
