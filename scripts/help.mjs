/**
 * `--help` for the scripts run by hand: a script's opening comment is its help text.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Prints the opening comment of the script at `url` (its import.meta.url) as text, and exits 0. */
export function printHelpAndExit(url) {
  // The comment as text: without the #! line and the comment's marks.
  const comment = readFileSync(fileURLToPath(url), "utf8").split("*/")[0] ?? "";
  const lines = comment.split("\n").filter((line) => !line.startsWith("#!") && line.trim() !== "/**");
  process.stdout.write(
    `${lines
      .map((line) => line.replace(/^ \*( |$)/, ""))
      .join("\n")
      .trimEnd()}\n`,
  );
  process.exit(0);
}
