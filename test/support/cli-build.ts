/**
 * The flowstore command as plain JavaScript, for the tests that run it as a process. Through tsx each
 * start compiled the package again: about 2 s a command against 0.5 s from JavaScript, and the suite
 * starts some hundreds. So the run's global setup transpiles src/ file by file (TypeScript's
 * transpileModule: no type check, which `npm run typecheck` does; with verbatimModuleSyntax every
 * import is kept as written) into a directory of its own, beside a copy of package.json, which the
 * command reads its version from (`../../package.json` from src/cli/). Users run the built JavaScript
 * too (dist/cli/main.js).
 *
 * Beside it, the same way, the test fixtures the tests start as processes (test/fixtures/, with the
 * support modules they import, whose imports of ../../src/ land in the copy; see fixture-process.ts),
 * the World module the Workflow SDK's suite loads in each of its server processes among them: through
 * tsx each start took about a second longer, which the suite's 12-second tests could not spare on a
 * loaded machine.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

/** The World fixture's place in the copy, relative to `root`. */
export const WORLD_FIXTURE = path.join("test", "fixtures", "workflow-world.js");

const OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.ESNext,
  target: ts.ScriptTarget.ES2022,
  verbatimModuleSyntax: true,
  sourceMap: false,
};

/** Writes `from` (a project path) under `root`, TypeScript as JavaScript, anything else as it is. */
function copyOne(from: string, root: string): void {
  const to = path.join(root, from);
  mkdirSync(path.dirname(to), { recursive: true });
  if (from.endsWith(".ts") && !from.endsWith(".d.ts")) {
    const { outputText } = ts.transpileModule(readFileSync(from, "utf8"), {
      compilerOptions: OPTIONS,
      fileName: from,
    });
    writeFileSync(to.replace(/\.ts$/, ".js"), outputText);
  } else {
    copyFileSync(from, to);
  }
}

/** Transpiles src/ and the fixtures under `root` (made afresh); returns the command's entry point there. */
export function buildCli(root: string): string {
  rmSync(root, { recursive: true, force: true });
  for (const dir of ["src", path.join("test", "fixtures"), path.join("test", "support")]) {
    for (const file of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
      if (/\.[a-z]+$/i.test(file)) copyOne(path.join(dir, file), root); // not a directory
    }
  }
  copyFileSync("package.json", path.join(root, "package.json"));
  return path.join(root, "src", "cli", "main.js");
}
