/**
 * The data a caller puts, as the write path reads it: checked to be bytes, counted and hashed on the
 * way through, and, when it goes through the caller's transaction, copied to a temporary file (a
 * spool) so that a retry of that transaction can read it again.
 */

import type { createHash } from "node:crypto";
import { type FileHandle, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ValidationError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import type { BlobData } from "./types.js";

/** Every accepted input as a sequence of byte chunks, counted and hashed on the way through. */
export async function* measured(
  data: BlobData,
  tally: { size: number; hash: ReturnType<typeof createHash> },
  copy?: Spool,
): AsyncGenerator<Uint8Array> {
  const pieces: AsyncIterable<unknown> | Iterable<unknown> = data instanceof Uint8Array ? [data] : data;
  for await (const piece of pieces) {
    const bytes = typeof piece === "string" ? Buffer.from(piece, "utf8") : piece;
    if (!(bytes instanceof Uint8Array)) {
      throw new ValidationError("blob data must yield bytes (Uint8Array or Buffer chunks)", {
        field: "data",
      });
    }
    tally.hash.update(bytes);
    tally.size += bytes.length;
    await copy?.write(bytes);
    yield bytes;
  }
}

/** Temporary copies of sources whose content went through a transaction, for its retries. */
export const spools = new WeakMap<object, string>();
const spoolFiles = new FinalizationRegistry<string>((file) => {
  rm(file, { force: true }).catch(() => {});
});

export class Spool {
  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(): Promise<Spool> {
    const file = path.join(tmpdir(), `flowstore-blob-${uuidv7()}`);
    return new Spool(file, await open(file, "w", 0o600));
  }

  async write(bytes: Uint8Array): Promise<void> {
    await this.handle.write(bytes);
  }

  async finish(): Promise<void> {
    await this.handle.close().catch(() => {});
  }

  async remove(): Promise<void> {
    await this.finish();
    await rm(this.file, { force: true }).catch(() => {});
  }

  /** Kept while the source object lives (a retry passes the same one), then deleted. */
  keepFor(source: object): void {
    spools.set(source, this.file);
    spoolFiles.register(source, this.file);
  }
}

export function isBlobData(data: unknown): data is BlobData {
  return (
    data instanceof Uint8Array || (typeof data === "object" && data !== null && Symbol.asyncIterator in data)
  );
}
