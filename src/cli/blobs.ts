/** `flowstore blobs put|get|ls`: files streamed in and out, with a progress bar on a terminal. */

import { createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { ValidationError } from "../index.js";
import { type CliContext, columns, wholeNumber } from "./context.js";
import { bytes, progressBar } from "./progress-bar.js";

/** Passes bytes through, reporting the running count. */
function counting(onBytes: (n: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      n += chunk.length;
      onBytes(n);
      done(null, chunk);
    },
  });
}

/** "ENOENT: no such file or directory, open 'x'" becomes "no such file or directory". */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^[A-Z]+: /, "").replace(/, \w+( '.*')?$/, "");
}

/**
 * Opens the file to store, before the store is opened: a missing, unreadable or non-file path is a
 * ValidationError (one line from the command) rather than a stream 'error' nobody listens to.
 */
async function openSource(file: string): Promise<{ stream: Readable; size: number }> {
  const handle = await open(file, "r").catch((error: unknown) => {
    throw new ValidationError(`cannot read ${file}: ${reason(error)}`, { field: "file" });
  });
  try {
    const info = await handle.stat();
    if (info.isDirectory())
      throw new ValidationError(`${file} is a directory; give a file`, { field: "file" });
    return { stream: handle.createReadStream(), size: info.size };
  } catch (error) {
    await handle.close();
    throw error instanceof ValidationError
      ? error
      : new ValidationError(`cannot read ${file}: ${reason(error)}`, { field: "file" });
  }
}

export function registerBlobCommands(program: Command, cli: CliContext): void {
  const blobs = program
    .command("blobs")
    .description("large binary objects: put, get, list")
    .addHelpText("after", "\nExample:\n  $ flowstore blobs ls invoices/");

  blobs
    .command("put")
    .description("store a file under a key (streamed; replaces any blob there)")
    .argument("<key>")
    .argument("<file>", "the file to store")
    .option("--content-type <type>", "recorded with the blob")
    .option("--execution <id>", "the execution the blob belongs to (pruned with it)")
    .addHelpText(
      "after",
      "\nExample:\n  $ flowstore blobs put reports/2026-11.pdf ./report.pdf --content-type application/pdf",
    )
    .action((key: string, file: string, options: { contentType?: string; execution?: string }) =>
      openSource(file).then(({ stream, size }) =>
        cli
          .withStore({ migrate: false, changes: "blobs put" }, async (store) => {
            const bar = progressBar(`put ${key}`, size, !cli.options.json && process.stderr.isTTY === true);
            const source = stream.pipe(counting((n) => bar.update(n)));
            // pipe() does not pass errors on: a read that fails part-way must fail the put (which then
            // stores nothing), not go unheard.
            stream.on("error", (error) =>
              source.destroy(new ValidationError(`cannot read ${file}: ${reason(error)}`, { field: "file" })),
            );
            const info = await store.blobs.put(key, source, {
              contentType: options.contentType,
              executionId: options.execution,
            });
            bar.finish(bytes(info.size));
            cli.print(info, () => `stored ${key}: ${bytes(info.size)}, sha256 ${info.sha256}`);
          })
          .finally(() => stream.destroy()),
      ),
    );

  blobs
    .command("get")
    .description("write a blob to a file (or to stdout with -o -); checked against its sha256")
    .argument("<key>")
    .option("-o, --output <file>", "where to write it (default: the key's last path part; - for stdout)")
    .addHelpText("after", "\nExample:\n  $ flowstore blobs get invoices/ORD-000001.json -o invoice.json")
    .action((key: string, options: { output?: string }) =>
      cli.withStore({ migrate: false }, async (store) => {
        const info = await store.blobs.head(key);
        const output = options.output ?? key.split("/").pop();
        if (!output)
          throw new ValidationError("give --output: the key has no file name in it", { field: "output" });
        const source = await store.blobs.stream(key);
        if (output === "-") {
          await pipeline(source, process.stdout);
          return;
        }
        const bar = progressBar(`get ${key}`, info.size, !cli.options.json && process.stderr.isTTY === true);
        // Written beside the target and renamed once complete and verified, so a failed get leaves nothing half-written.
        const partial = `${output}.flowstore-partial`;
        try {
          await pipeline(
            source,
            counting((n) => bar.update(n)),
            createWriteStream(partial),
          );
          await rename(partial, output);
        } catch (error) {
          await rm(partial, { force: true });
          throw error;
        }
        bar.finish(bytes(info.size));
        cli.print(
          { ...info, file: output },
          () => `wrote ${output}: ${bytes(info.size)}, sha256 ${info.sha256}`,
        );
      }),
    );

  blobs
    .command("ls")
    .description("blobs whose key starts with a prefix, in key order")
    .argument("[prefix]", "key prefix", "")
    .option("--limit <n>", "page size", wholeNumber(1), 100)
    .option("--cursor <cursor>", "the nextCursor of the previous page")
    .addHelpText("after", "\nExample:\n  $ flowstore blobs ls invoices/ --json")
    .action((prefix: string, options: { limit: number; cursor?: string }) =>
      cli.withStore({ migrate: false }, async (store) => {
        const page = await store.blobs.list(prefix, { limit: options.limit, cursor: options.cursor });
        cli.print(page, () => {
          const table = columns(
            page.items.map((b) => ({
              key: b.key,
              size: bytes(b.size),
              type: b.contentType,
              created: b.createdAt,
              backend: b.backend,
            })),
            "no blobs",
          );
          return page.nextCursor ? `${table}\nmore: --cursor ${page.nextCursor}` : table;
        });
      }),
    );
}
