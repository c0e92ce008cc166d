/**
 * The package as npm would publish it: packed from a fresh copy of the repository's files, with no
 * dist/ (packing must build it), as from a fresh clone. The tarball is kept under .test-data/packed by
 * a hash of the files it was packed from, so the tests that install it (the package test, the apps
 * built on it) and the version matrix's runs, on other Node.js lines, pack once for the same files (a
 * build is the same whichever Node.js runs it); files changed since are packed anew.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** The repository's files as a fresh clone has them (those of this checkout, changes included). */
function repositoryFiles(): string[] {
  return execFileSync("git", ["ls-files", "-z"], { encoding: "utf8" })
    .split("\0")
    .filter((file) => file && existsSync(file));
}

/** The path of the packed package: the one packed before from the same files when there is one. */
export function packedTarball(): string {
  const files = repositoryFiles();
  const hash = createHash("sha256");
  for (const file of files) hash.update(`${file}\0`).update(readFileSync(file)).update("\0");
  const kept = path.resolve(".test-data", "packed", `flowstore-${hash.digest("hex").slice(0, 16)}.tgz`);
  if (existsSync(kept)) return kept;
  const work = mkdtempSync(path.join(tmpdir(), "flowstore-pack-"));
  try {
    const clone = path.join(work, "clone");
    for (const file of files) cpSync(file, path.join(clone, file));
    symlinkSync(path.resolve("node_modules"), path.join(clone, "node_modules"), "dir");
    const name = execFileSync("npm", ["pack", "--pack-destination", work, "--silent"], {
      cwd: clone,
      encoding: "utf8",
    })
      .trim()
      .split("\n")
      .at(-1) as string;
    // Only the newest is kept: those of files since changed are of no more use. Another process may
    // be packing the same files meanwhile: its partial copy stays, and whichever renames last wins.
    const dir = path.dirname(kept);
    mkdirSync(dir, { recursive: true });
    for (const old of readdirSync(dir)) {
      if (!old.endsWith(".partial")) rmSync(path.join(dir, old), { force: true });
    }
    // Copied whole, then renamed: a reader finds it complete or not at all.
    const partial = `${kept}.${process.pid}.partial`;
    copyFileSync(path.join(work, name), partial);
    renameSync(partial, kept);
    return kept;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
