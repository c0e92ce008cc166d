/**
 * The flowstore command as plain JavaScript, for the tests that run it as a process. Through tsx each
 * start compiled the package again: about 2 s a command against 0.5 s from JavaScript, and the suite
 * starts some hundreds. So the run's global setup transpiles src/ file by file (TypeScript's
 * transpileModule: no type check, which `npm run typecheck` does; with verbatimModuleSyntax every
 * import is kept as written) into a directory of its own, beside a copy of package.json, which the
 * command reads its version from (`../../package.json` from src/cli/). Users run the built JavaScript
 * too (dist/cli/main.js).
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

/** Transpiles src/ under `root` (made afresh); returns the command's entry point there. */
export function buildCli(root: string): string {
  rmSync(root, { recursive: true, force: true });
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.ESNext,
    target: ts.ScriptTarget.ES2022,
    verbatimModuleSyntax: true,
    sourceMap: false,
  };
  for (const file of readdirSync("src", { recursive: true, encoding: "utf8" })) {
    const from = path.join("src", file);
    const to = path.join(root, "src", file);
    if (!/\.[a-z]+$/i.test(file)) continue; // a directory
    mkdirSync(path.dirname(to), { recursive: true });
    if (file.endsWith(".ts") && !file.endsWith(".d.ts")) {
      const { outputText } = ts.transpileModule(readFileSync(from, "utf8"), {
        compilerOptions: options,
        fileName: from,
      });
      writeFileSync(to.replace(/\.ts$/, ".js"), outputText);
    } else {
      copyFileSync(from, to);
    }
  }
  copyFileSync("package.json", path.join(root, "package.json"));
  return path.join(root, "src", "cli", "main.js");
}
