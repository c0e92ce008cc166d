/**
 * The README and docs/*.md show only code that CI type-checks and runs: every TypeScript block is
 * marked `<!-- include: examples/<file>.ts -->` (the whole file) or `<!-- include: examples/<file>.ts#<region> -->`
 * (the lines between `// #region <region>` and `// #endregion` in it) on the line before it, and is
 * that text exactly. examples.test.ts runs the files; `npm run typecheck` checks them. Links to files
 * and to headings resolve too.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const DOCS = ["README.md", ...readdirSync("docs").map((file) => path.join("docs", file))].filter((file) =>
  file.endsWith(".md"),
);
const TYPESCRIPT = new Set(["ts", "typescript", "tsx", "js", "javascript", "mjs"]);
const INCLUDE = /^<!-- include: (examples\/[\w./-]+\.ts)(?:#([\w-]+))? -->$/;

interface Block {
  doc: string;
  line: number;
  lang: string;
  code: string;
  include: string | undefined;
}

function blocks(doc: string): Block[] {
  const lines = readFileSync(doc, "utf8").split("\n");
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const indent = open[1] as string;
    const end = lines.findIndex((line, j) => j > i && line.trim() === "```");
    const previous = lines
      .slice(0, i)
      .reverse()
      .find((line) => line.trim() !== "");
    found.push({
      doc,
      line: i + 1,
      lang: open[2] as string,
      code: lines
        .slice(i + 1, end)
        .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
        .join("\n"),
      include: previous?.trim(),
    });
    i = end;
  }
  return found;
}

/** A file's text, or one region of it: dedented, nested region markers left out. */
function included(file: string, region: string | undefined): string {
  const lines = readFileSync(file, "utf8").replace(/\n$/, "").split("\n");
  let body = lines;
  if (region !== undefined) {
    const start = lines.findIndex((line) => line.trim() === `// #region ${region}`);
    if (start < 0) throw new Error(`${file} has no region ${region}`);
    const end = lines.findIndex((line, i) => i > start && line.trim() === "// #endregion");
    body = lines.slice(start + 1, end);
  }
  body = body.filter((line) => !/^\s*\/\/ #(end)?region\b/.test(line));
  const indent = Math.min(
    ...body.filter((line) => line.trim()).map((line) => /^ */.exec(line)?.[0].length ?? 0),
  );
  return body.map((line) => line.slice(indent)).join("\n");
}

const all = DOCS.flatMap(blocks);

describe("code in the README and docs", () => {
  it("finds the documents and their TypeScript", () => {
    expect(DOCS).toContain("README.md");
    expect(all.filter((block) => TYPESCRIPT.has(block.lang)).length).toBeGreaterThan(10);
  });

  it.each(
    all.filter((block) => TYPESCRIPT.has(block.lang)).map((block) => [`${block.doc}:${block.line}`, block]),
  )("%s is an example's text", (_where, block) => {
    const include = INCLUDE.exec(block.include ?? "");
    expect(
      include,
      `${block.doc}:${block.line} has no <!-- include: examples/... --> line before it`,
    ).not.toBeNull();
    const [, file, region] = include as RegExpExecArray;
    expect(existsSync(file as string), `${file} exists`).toBe(true);
    expect(block.code).toBe(included(file as string, region));
  });

  it("marks only TypeScript blocks as included", () => {
    const stray = all.filter((block) => INCLUDE.test(block.include ?? "") && !TYPESCRIPT.has(block.lang));
    expect(stray.map((block) => `${block.doc}:${block.line}`)).toEqual([]);
  });

  it("links to files that exist and to headings that exist", () => {
    const broken: string[] = [];
    const anchors = new Map(DOCS.map((doc) => [doc, headingAnchors(readFileSync(doc, "utf8"))]));
    for (const doc of DOCS) {
      const text = readFileSync(doc, "utf8").replace(/```[\s\S]*?```/g, "");
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!target || /^[a-z]+:/.test(target)) continue;
        const [file, anchor] = target.split("#");
        const resolved = file ? path.normalize(path.join(path.dirname(doc), file)) : doc;
        if (!existsSync(resolved)) broken.push(`${doc}: ${target}`);
        else if (anchor && resolved.endsWith(".md") && !anchors.get(resolved)?.has(anchor))
          broken.push(`${doc}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

/** GitHub's anchors: lower case, punctuation dropped, spaces as hyphens. */
function headingAnchors(markdown: string): Set<string> {
  const headings = markdown.replace(/```[\s\S]*?```/g, "").matchAll(/^#{1,6} (.+)$/gm);
  return new Set(
    [...headings].map(([, title]) =>
      (title as string)
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, "")
        .replace(/ /g, "-"),
    ),
  );
}
