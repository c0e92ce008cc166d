// tsc copies only TypeScript; the migration files ship beside the compiled runner.
import { cpSync } from "node:fs";

cpSync("src/migrations/sql", "dist/migrations/sql", { recursive: true });
