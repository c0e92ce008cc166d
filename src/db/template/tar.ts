/**
 * Unpacks the tarballs PGlite's dumpDataDir writes (ustar: directories and regular files, names under
 * 100 characters) into a directory on disk. PGlite could load one into a directory itself, through its
 * WebAssembly file system, but that writes file by file through the emulation and takes as long again
 * as starting; Node writes the same files in a fraction of it.
 */

import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

const BLOCK = 512;

function field(header: Uint8Array, start: number, length: number): string {
  const bytes = header.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString("utf8");
}

/** The entry's path inside `root`, refusing one that would climb out of it. */
function inside(root: string, name: string): string {
  const relative = path.normalize(name.replace(/^\/+/, ""));
  if (relative === "." || relative.startsWith("..") || path.isAbsolute(relative)) {
    throw new Error(`the archive names ${JSON.stringify(name)}, outside the directory it fills`);
  }
  return path.join(root, relative);
}

/**
 * Writes the archive's directories and files under `root` (made if missing), files readable by this
 * user alone as PostgreSQL keeps them. Throws on an entry of another kind or a truncated archive.
 */
export function extractTar(tar: Uint8Array, root: string): void {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    // Two zero blocks end the archive; one is enough to know nothing follows.
    if (header.every((byte) => byte === 0)) return;
    const prefix = field(header, 345, 155);
    const name = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
    const size = Number.parseInt(field(header, 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(header[156] ?? 0);
    offset += BLOCK;
    if (!Number.isFinite(size) || offset + size > tar.length) {
      throw new Error(`the archive ends inside ${JSON.stringify(name)}`);
    }
    const target = inside(root, name);
    if (type === "5") {
      mkdirSync(target, { recursive: true, mode: 0o700 });
    } else if (type === "0" || type === "\0") {
      mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
      writeFileSync(target, tar.subarray(offset, offset + size), { mode: 0o600 });
    } else {
      throw new Error(`the archive holds ${JSON.stringify(name)} of type ${JSON.stringify(type)}`);
    }
    offset += Math.ceil(size / BLOCK) * BLOCK;
  }
  throw new Error("the archive ends without its end marker");
}
