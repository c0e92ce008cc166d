/** What every command shares: the global options, opening the store, and printing text or JSON. */

import { existsSync } from "node:fs";
import path from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import {
  type MigrationProgress,
  NotFoundError,
  openStore,
  parseConnectionString,
  ReadOnlyError,
  type Store,
  StoreError,
  type StoreOptions,
} from "../index.js";

export interface GlobalOptions {
  url?: string;
  schema: string;
  dataDir?: string;
  /** A replica for lists and counts (readConnection). */
  readUrl?: string;
  /** Open the store with readOnly: no migration, and commands that change the store refused. */
  readOnly?: boolean;
  json?: boolean;
  verbose?: boolean;
}

export class CliContext {
  constructor(private readonly program: Command) {}

  /**
   * An empty --url or --data-dir (DATABASE_URL or FLOWSTORE_DATA_DIR set to "") is unset, as openStore
   * takes an empty DATABASE_URL: the embedded store, not a server at the defaults (localhost:5432).
   */
  get options(): GlobalOptions {
    const options = this.program.opts<GlobalOptions>();
    return {
      ...options,
      url: options.url || undefined,
      dataDir: options.dataDir || undefined,
      readUrl: options.readUrl || undefined,
    };
  }

  /**
   * The flags that named the store on the command line (not those the environment gave, which a
   * command run next takes from it too), ready to print in a command to run: a URL's password as ***.
   */
  storeFlags(): string[] {
    const { url, schema, dataDir } = this.options;
    const given = (name: string) => this.program.getOptionValueSource(name) === "cli";
    const flags: string[] = [];
    if (url && given("url")) flags.push("--url", shellWord(withoutPassword(url)));
    if (given("schema")) flags.push("--schema", shellWord(schema));
    if (dataDir && given("dataDir")) flags.push("--data-dir", shellWord(dataDir));
    return flags;
  }

  /**
   * What every command opens the store with: where it is, where lists read from (--read-url), and
   * whether it may write (--read-only, which never migrates).
   */
  storeOptions(migrate?: boolean): StoreOptions {
    const { url, schema, dataDir, readUrl, readOnly } = this.options;
    return {
      connection: url,
      schema,
      dataDir,
      readConnection: readUrl,
      readOnly: readOnly === true,
      migrate: readOnly ? undefined : migrate,
    };
  }

  /**
   * Opens the store for one command and closes it afterwards. `changes` names a command that writes:
   * with --read-only it is refused before the store is opened.
   */
  async withStore<T>(
    options: { migrate: boolean; changes?: string },
    fn: (store: Store) => Promise<T>,
  ): Promise<T> {
    if (options.changes !== undefined) this.refuseIfReadOnly(options.changes);
    else this.refuseIfNoEmbeddedStore();
    // A command that runs and exits records spans only for an SDK registered beforehand (node --import):
    // with none, loading the OpenTelemetry API would cost its start and record nothing.
    const telemetry = openTelemetryRegistered() ? undefined : false;
    const timing = phaseTimer();
    const store = await openStore({ ...this.storeOptions(options.migrate), telemetry });
    timing.mark("open");
    try {
      return await fn(store);
    } finally {
      timing.mark("command");
      await store.close();
      timing.mark("close");
      timing.report();
    }
  }

  /**
   * A command that only reads, on the embedded store in a directory that is not there: nothing to
   * read, and opening it would create it. It says so instead, and creates nothing.
   */
  refuseIfNoEmbeddedStore(): void {
    const { url, dataDir } = this.options;
    const env = process.env;
    if (url || env.PGHOST || env.POSTGRES_HOST) return;
    const dir = dataDir || env.FLOWSTORE_DATA_DIR || ".flowstore";
    if (existsSync(dir)) return;
    throw new NotFoundError(
      `no embedded store in ${path.resolve(dir)} (nothing to show, and nothing was created): give --url for a server, or create one with flowstore migrate or flowstore demo`,
    );
  }

  /**
   * Opens the store and migrates it, each migration printed as it is applied (see migrationProgress);
   * with --read-only, opens it without migrating, as openStore does.
   */
  async openMigrated(): Promise<Store> {
    if (this.options.readOnly) return openStore(this.storeOptions());
    const store = await openStore(this.storeOptions(false));
    try {
      await store.migrate({ progress: this.migrationProgress() });
    } catch (error) {
      await store.close().catch(() => {});
      throw error;
    }
    return store;
  }

  /**
   * `applying 0012_events_signals ... 35 ms` on stderr per migration, where someone watches (stderr is
   * a terminal) or asked (--verbose); never with --json, whose output is the result alone.
   */
  migrationProgress(): MigrationProgress | undefined {
    const { json, verbose } = this.options;
    if (json || !(verbose || process.stderr.isTTY)) return undefined;
    return {
      applying: (migration) => process.stderr.write(`applying ${migration} ... `),
      applied: (_migration, ms) => process.stderr.write(`${ms} ms\n`),
    };
  }

  /** With --read-only, refuses `command`, which changes the store, before anything is opened. */
  refuseIfReadOnly(command: string): void {
    if (!this.options.readOnly) return;
    throw new ReadOnlyError(
      `flowstore ${command} changes the store, and --read-only was given: nothing was done; run it without --read-only, against the primary`,
    );
  }

  /** JSON with --json, else the text. */
  print(json: unknown, text: () => string): void {
    process.stdout.write(this.options.json ? `${JSON.stringify(json, null, 2)}\n` : `${text()}\n`);
  }
}

/** A connection string with its password, in any form it may take there, shown as ***. */
function withoutPassword(url: string): string {
  const { password } = parseConnectionString(url);
  if (!password) return url;
  return [password, encodeURIComponent(password)].reduce((text, form) => text.split(form).join("***"), url);
}

/** `text` as one word of a POSIX shell: bare when it can be, else single-quoted. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * With FLOWSTORE_DEBUG_TIMING=1, where a command's time went, on stderr: the process's start and its
 * modules (up to the store's opening), opening the store, the command, and closing the store.
 */
function phaseTimer(): { mark(phase: string): void; report(): void } {
  if (!process.env.FLOWSTORE_DEBUG_TIMING) return { mark: () => {}, report: () => {} };
  const phases: Array<[string, number]> = [["start and modules", performance.now()]];
  return {
    mark: (phase) => phases.push([phase, performance.now()]),
    report: () => {
      const parts = phases.map(
        ([phase, at], i) => `${phase} ${Math.round(at - (phases[i - 1]?.[1] ?? 0))} ms`,
      );
      process.stderr.write(
        `flowstore timing: ${parts.join(", ")}; total ${Math.round(performance.now())} ms\n`,
      );
    },
  };
}

/** True once an OpenTelemetry SDK (any 1.x API) has registered a provider in this process. */
function openTelemetryRegistered(): boolean {
  return (globalThis as Record<symbol, unknown>)[Symbol.for("opentelemetry.js.api.1")] !== undefined;
}

/**
 * A flag's whole number, read as commander reads the flag: a word or a fraction is a usage error that
 * names the flag (Number("abc") reached the API as NaN, which named only its own parameter).
 */
export function wholeNumber(min: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`Expected a whole number, at least ${min}.`);
    }
    return n;
  };
}

/** Left-aligned columns for terminal tables. */
export function columns(rows: Array<Record<string, unknown>>, empty = "(none)"): string {
  if (rows.length === 0) return empty;
  const keys = Object.keys(rows[0] as object);
  const text = (v: unknown) =>
    v instanceof Date ? v.toISOString() : v === null || v === undefined ? "-" : String(v);
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => text(r[k]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] as number))
      .join("  ")
      .trimEnd();
  return [line(keys), ...rows.map((r) => line(keys.map((k) => text(r[k]))))].join("\n");
}

/** A missing table or schema means the store was never migrated: say what to run. */
/** An error as --json prints it: its class, stable code, message and the field at fault. */
export function errorJson(error: unknown): Record<string, unknown> {
  const line = errorLine(error);
  if (!(error instanceof StoreError)) return { name: "Error", code: "ERROR", message: line };
  const field = (error as { field?: unknown }).field;
  return {
    name: error.name,
    code: error.code,
    message: line.slice(error.name.length + 2),
    ...(typeof field === "string" ? { field } : {}),
    ...(error.sqlState ? { sqlState: error.sqlState } : {}),
  };
}

export function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const kind = error instanceof StoreError ? `${error.name}: ` : "";
  const unmigrated =
    error instanceof StoreError && (error.sqlState === "42P01" || error.sqlState === "3F000");
  return `${kind}${message}${unmigrated ? " (is the schema migrated? run: flowstore migrate)" : ""}`;
}

/**
 * Where commander writes a usage error (an unknown option or command, a missing argument): under
 * --json the `{ error }` object scripts read for every other error, with the help that follows it left
 * out; otherwise commander's own text. Decided from the arguments, since a usage error may come
 * before the options are parsed.
 */
export function usageErrorOutput(argv: string[]): {
  outputError(text: string, write: (text: string) => void): void;
  writeErr(text: string): void;
} {
  const args = argv.slice(2);
  const end = args.indexOf("--");
  const json = (end === -1 ? args : args.slice(0, end)).includes("--json");
  if (!json)
    return { outputError: (text, write) => write(text), writeErr: (text) => process.stderr.write(text) };
  return {
    outputError(text) {
      const message = text.replace(/^error: /, "").trim();
      process.stderr.write(`${JSON.stringify({ error: { name: "UsageError", code: "USAGE", message } })}\n`);
    },
    writeErr() {},
  };
}
