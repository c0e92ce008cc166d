/**
 * Unpacks the tarballs PGlite's dumpDataDir writes (ustar: directories and regular files, names under
 * 100 characters) into a directory on disk, or into PGlite's file system in memory. PGlite could load
 * one itself (loadDataDir), but it reads it as a stream of a Blob and writes it file by file through the
 * emulation, which takes as long again as starting; written here the same files take a fraction of it.
 */

import { closeSync, ftruncateSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";

const BLOCK = 512;

function field(header: Uint8Array, start: number, length: number): string {
  const bytes = header.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString("utf8");
}

/** The entry's path inside `root`, refusing one that would climb out of it. */
function inside(paths: path.PlatformPath, root: string, name: string): string {
  const relative = paths.normalize(name.replace(/^\/+/, ""));
  if (relative === "." || relative.startsWith("..") || paths.isAbsolute(relative)) {
    throw new Error(`the archive names ${JSON.stringify(name)}, outside the directory it fills`);
  }
  return paths.join(root, relative);
}

/** Where the entries go: a directory (with its parents) and a file's bytes. */
export interface TarSink {
  /** How its paths are spelled: the platform's, or POSIX for PGlite's own file system. */
  readonly paths: path.PlatformPath;
  mkdir(dir: string): void;
  writeFile(file: string, data: Uint8Array): void;
}

const PAGE = 8192;
const ZEROS = new Uint8Array(PAGE);

/** The pages of `data` that hold something, as [start, end) byte ranges; runs of zero pages are left out. */
function filledRanges(data: Uint8Array): [number, number][] {
  const ranges: [number, number][] = [];
  for (let start = 0; start < data.length; start += PAGE) {
    const page = data.subarray(start, start + PAGE);
    if (Buffer.compare(page, ZEROS.subarray(0, page.length)) === 0) continue;
    const last = ranges.at(-1);
    if (last && last[1] === start) last[1] = start + page.length;
    else ranges.push([start, start + page.length]);
  }
  return ranges;
}

/**
 * Writes a file with its pages of zeros left as holes, which read as zeros: a new write-ahead log segment
 * is 16 MB of them but its first page, and writing them would be half of all the template's bytes.
 */
function writeSparse(file: string, data: Uint8Array): void {
  const filled = filledRanges(data);
  const whole = filled.length === 1 && filled[0]?.[0] === 0 && filled[0][1] === data.length;
  if (whole || data.length === 0) {
    writeFileSync(file, data, { mode: 0o600 });
    return;
  }
  const fd = openSync(file, "w", 0o600);
  try {
    for (const [start, end] of filled) writeSync(fd, data, start, end - start, start);
    ftruncateSync(fd, data.length);
  } finally {
    closeSync(fd);
  }
}

/** Node's file system: readable by this user alone, as PostgreSQL keeps its files. */
const onDisk: TarSink = {
  paths: path,
  mkdir: (dir) => mkdirSync(dir, { recursive: true, mode: 0o700 }),
  writeFile: writeSparse,
};

/**
 * Writes the archive's directories and files under `root` (made if missing), on disk unless another
 * sink is given. Throws on an entry of another kind or a truncated archive.
 */
export function extractTar(tar: Uint8Array, root: string, sink: TarSink = onDisk): void {
  // A directory is made once, not once for each of its files: a data directory holds a thousand.
  const made = new Set<string>();
  const mkdir = (dir: string) => {
    if (made.has(dir)) return;
    sink.mkdir(dir);
    made.add(dir);
  };
  mkdir(root);
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
    const target = inside(sink.paths, root, name);
    if (type === "5") {
      mkdir(target);
    } else if (type === "0" || type === "\0") {
      mkdir(sink.paths.dirname(target));
      sink.writeFile(target, tar.subarray(offset, offset + size));
    } else {
      throw new Error(`the archive holds ${JSON.stringify(name)} of type ${JSON.stringify(type)}`);
    }
    offset += Math.ceil(size / BLOCK) * BLOCK;
  }
  throw new Error("the archive ends without its end marker");
}
