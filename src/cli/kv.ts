/** `flowstore kv get|set|list`. */

import type { Command } from "commander";
import { type KvEntry, NotFoundError } from "../index.js";
import { type CliContext, columns, wholeNumber } from "./context.js";

/** The value as text when it is UTF-8, else base64, and which of the two it is. */
function shown(entry: KvEntry): { value: string; encoding: "utf8" | "base64" } {
  const bytes = Buffer.from(entry.value);
  const text = bytes.toString("utf8");
  return Buffer.from(text, "utf8").equals(bytes)
    ? { value: text, encoding: "utf8" }
    : { value: bytes.toString("base64"), encoding: "base64" };
}

function json(entry: KvEntry) {
  return {
    prefix: entry.prefix,
    key: entry.key,
    ...shown(entry),
    version: entry.version,
    expiresAt: entry.expiresAt,
    updatedAt: entry.updatedAt,
  };
}

export function registerKvCommands(program: Command, cli: CliContext): void {
  const kv = program
    .command("kv")
    .description("the key-value space: (prefix, key) -> bytes")
    .addHelpText("after", "\nExample:\n  $ flowstore kv set settings theme dark");

  kv.command("get")
    .description("print one entry's value (raw bytes to stdout, or JSON with --json)")
    .argument("<prefix>")
    .argument("<key>")
    .addHelpText("after", "\nExample:\n  $ flowstore kv get settings theme")
    .action((prefix: string, key: string) =>
      cli.withStore({ migrate: false }, async (store) => {
        const entry = await store.kv.get(prefix, key);
        if (!entry) throw new NotFoundError(`no kv entry ${JSON.stringify(prefix)}/${JSON.stringify(key)}`);
        if (cli.options.json) cli.print(json(entry), () => "");
        else process.stdout.write(Buffer.from(entry.value));
      }),
    );

  kv.command("set")
    .description("create or replace an entry")
    .argument("<prefix>")
    .argument("<key>")
    .argument("<value>", "the value (UTF-8 text)")
    .option("--ttl <seconds>", "the entry disappears after this many seconds")
    .option("--expected-version <n>", "write only at this version (0: only if absent)")
    .addHelpText("after", "\nExample:\n  $ flowstore kv set settings theme dark --ttl 3600")
    .action(
      (prefix: string, key: string, value: string, options: { ttl?: string; expectedVersion?: string }) =>
        cli.withStore({ migrate: false, changes: "kv set" }, async (store) => {
          const result = await store.kv.set(prefix, key, value, {
            ttlMs: options.ttl === undefined ? undefined : Number(options.ttl) * 1000,
            expectedVersion:
              options.expectedVersion === undefined ? undefined : Number(options.expectedVersion),
          });
          cli.print({ prefix, key, ...result }, () => `set ${prefix}/${key} (version ${result.version})`);
        }),
    );

  kv.command("list")
    .description("entries of one prefix, in key order")
    .argument("<prefix>")
    .option("--limit <n>", "page size", wholeNumber(1), 100)
    .option("--cursor <cursor>", "the nextCursor of the previous page")
    .addHelpText("after", "\nExample:\n  $ flowstore kv list settings --json")
    .action((prefix: string, options: { limit: number; cursor?: string }) =>
      cli.withStore({ migrate: false }, async (store) => {
        const page = await store.kv.list(prefix, { limit: options.limit, cursor: options.cursor });
        cli.print({ items: page.items.map(json), nextCursor: page.nextCursor }, () => {
          const table = columns(
            page.items.map((e) => {
              const { value } = shown(e);
              return {
                key: e.key,
                version: e.version,
                value: value.length > 60 ? `${value.slice(0, 59)}…` : value,
                expires: e.expiresAt,
              };
            }),
            "no entries",
          );
          return page.nextCursor ? `${table}\nmore: --cursor ${page.nextCursor}` : table;
        });
      }),
    );
}
