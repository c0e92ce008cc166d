/**
 * The README's "What flowstore promises" names, for each promise, the test that shows it. Each named
 * test must exist under that title in that file, so the table cannot point at a test that was renamed
 * or removed.
 */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const README = readFileSync("README.md", "utf8");

/** The rows of the table under the heading, each with the test its last cell names. */
function promisedTests(): { promise: string; file: string; title: string }[] {
  const section = README.split("\n## What flowstore promises\n")[1]?.split("\n## ")[0] ?? "";
  const rows = section
    .split("\n")
    .filter((line) => /^\| [^-\s]/.test(line) && !line.startsWith("| promise "));
  return rows.map((row) => {
    const cells = row
      .split("|")
      .map((cell) => cell.trim())
      .filter(Boolean);
    // A path, not a link: the tests are not in the package, and the README is read on npm too.
    const named = /^`(test\/[\w/.-]+)`: (.+)$/.exec(cells.at(-1) ?? "");
    if (!named) throw new Error(`a row of the promises names no test in its last cell: ${row}`);
    const [, file, title] = named as unknown as [string, string, string];
    return { promise: (cells[0] ?? "").replace(/\[([^\]]+)\]\([^)]+\)/g, "$1"), file, title };
  });
}

describe("the README's promises", () => {
  it("has a table of them, with a test for each", () => {
    expect(promisedTests().length).toBeGreaterThanOrEqual(10);
  });

  for (const { promise, file, title } of promisedTests()) {
    it(`${promise}: shown by a test that exists`, () => {
      expect(existsSync(file), file).toBe(true);
      const source = readFileSync(file, "utf8");
      // The title as a test's name: in quotes, or the end of a name built in a template string.
      expect(
        source.includes(`"${title}"`) || source.includes(`${title}\``) || source.includes(`: ${title}"`),
      ).toBe(true);
    });
  }
});
