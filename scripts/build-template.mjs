// The embedded store's template, made by the build so that the package carries it: a new embedded
// database is then this directory unpacked, not initdb run in a second PGlite (src/db/template/).
// Named for the PGlite installed here and the migrations just built; a start with another PGlite
// makes its own, in the user's cache directory.
import { mkdirSync, rmSync } from "node:fs";
import { makeTemplate, templateName, writeTemplate } from "../dist/db/template/template.js";
import { templateRanges } from "../dist/partitions/index.js";

const dir = "dist/pglite-template";
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const file = writeTemplate(dir, templateName(), await makeTemplate(templateRanges()));
process.stdout.write(`${file}\n`);
