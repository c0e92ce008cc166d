/**
 * A new embedded database made from a template rather than by initdb. PGlite makes a database by
 * running initdb in a second WebAssembly instance beside its own, which is nearly all of a first
 * start's time and memory (seconds, and twice the memory of a later start); migrating the store's
 * schema is most of the rest. The template is a data directory made once, initdb'd and migrated in the
 * default schema, kept as a gzipped tarball (PGlite's dumpDataDir): a new database is that directory
 * unpacked (or loaded into memory), and starts as a made one does.
 *
 * A template is named by what it holds: the PGlite version that made it and the migrations applied in
 * it. It is found beside the compiled code (`npm run build` makes one, so the package carries it) or
 * in the user's cache directory (`$XDG_CACHE_HOME/flowstore`, else `~/.cache/flowstore`), where it is
 * made on the first start that finds none, written beside and renamed into place so that processes
 * making it at once each leave a whole file. A template of another PGlite or another migration set is
 * never loaded: one is made for this one. Where none can be had (no cache directory to write), or
 * unpacking it fails, PGlite makes the database itself as before.
 */

import { createHash, randomUUID } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { PGlite, type PGliteOptions } from "@electric-sql/pglite";
import { loadMigrations, type Migration, migrationScript } from "../../migrations/runner.js";
import { quoteIdentifier } from "../sql.js";
import { extractTar } from "./tar.js";

/** The schema the template is migrated in: the store's default (store.ts's DEFAULT_SCHEMA). */
export const TEMPLATE_SCHEMA = "flowstore";

/** Where templates are looked for, in order; the cache is also where a missing one is made. */
export interface TemplatePlaces {
  /** Made by the build, beside the compiled code; read only. */
  shipped?: string;
  /** The user's cache directory. */
  cache?: string;
}

export function defaultPlaces(env: NodeJS.ProcessEnv = process.env): TemplatePlaces {
  const home = env.XDG_CACHE_HOME || path.join(homedir(), ".cache");
  return {
    shipped: fileURLToPath(new URL("../../pglite-template/", import.meta.url)),
    cache: path.join(home, "flowstore"),
  };
}

let pgliteVersion: string | undefined;

/** The installed PGlite's version: a data directory is made for the PostgreSQL build that made it. */
export function installedPgliteVersion(): string {
  if (pgliteVersion) return pgliteVersion;
  // The package exports no package.json; its entry point sits in dist/, one below it.
  const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
  const manifest = JSON.parse(readFileSync(path.join(path.dirname(entry), "..", "package.json"), "utf8"));
  pgliteVersion = String(manifest.version);
  return pgliteVersion;
}

/** The file name of the template for this PGlite and these migrations. */
export function templateName(migrations: Migration[] = loadMigrations()): string {
  const hash = createHash("sha256").update(`${installedPgliteVersion()}\n${TEMPLATE_SCHEMA}\n`);
  for (const migration of migrations) hash.update(`${migration.id} ${migration.checksum}\n`);
  return `pglite-${installedPgliteVersion()}-${migrations.length}-${hash.digest("hex").slice(0, 16)}.tar.gz`;
}

/**
 * Makes a template: initdb in memory, the migrations applied in TEMPLATE_SCHEMA as `flowstore sql`
 * prints them (each recorded with its checksum, as the runner records it), a checkpoint so the
 * directory needs no recovery, and the gzipped tarball of it.
 */
export async function makeTemplate(migrations: Migration[] = loadMigrations()): Promise<Uint8Array> {
  const db = await PGlite.create();
  try {
    await db.exec(migrationScript(TEMPLATE_SCHEMA, migrations));
    await db.exec("checkpoint");
    const dump = await db.dumpDataDir("gzip");
    return new Uint8Array(await dump.arrayBuffer());
  } finally {
    await db.close();
  }
}

/** Writes `bytes` to `dir/name` beside and renames it into place, so a reader never sees part of it. */
export function writeTemplate(dir: string, name: string, bytes: Uint8Array): string {
  mkdirSync(dir, { recursive: true });
  const final = path.join(dir, name);
  const beside = path.join(dir, `.${name}.${process.pid}.${randomUUID()}`);
  try {
    writeFileSync(beside, bytes);
    renameSync(beside, final);
  } finally {
    rmSync(beside, { force: true });
  }
  return final;
}

function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

interface Found {
  bytes: Uint8Array;
  /** The file in the cache it came from, removed if it proves unreadable; unset for one shipped. */
  cached?: string;
}

const found = new Map<string, Promise<Found | undefined>>();

/**
 * The template's bytes: shipped, cached, or made now into the cache. Undefined when there is none and
 * the cache directory cannot be written (making one only to throw it away costs more than initdb).
 * Read once per process: a test suite makes many stores.
 */
function findTemplate(places: TemplatePlaces): Promise<Found | undefined> {
  const name = templateName();
  const key = `${places.shipped}\n${places.cache}\n${name}`;
  let finding = found.get(key);
  if (!finding) {
    finding = (async () => {
      if (places.shipped && existsSync(path.join(places.shipped, name))) {
        return { bytes: readFileSync(path.join(places.shipped, name)) };
      }
      if (!places.cache) return undefined;
      const cached = path.join(places.cache, name);
      if (existsSync(cached)) return { bytes: readFileSync(cached), cached };
      if (!writable(places.cache)) return undefined;
      const bytes = await makeTemplate();
      try {
        writeTemplate(places.cache, name, bytes);
      } catch {
        // Another process may have filled the disk or taken the directory away: this start still has it.
      }
      return { bytes };
    })().catch(() => undefined);
    found.set(key, finding);
  }
  return finding;
}

/** The tarball inside the gzip; throws on a damaged or truncated file (gzip checks its CRC). */
function unpack(template: Found): Uint8Array {
  try {
    return gunzipSync(template.bytes);
  } catch (error) {
    forget(template);
    throw error;
  }
}

function forget(template: Found): void {
  if (template.cached) rmSync(template.cached, { force: true });
  found.clear();
}

/** True when `dir` holds nothing yet: a database to make, not one to open. */
function isNew(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

/**
 * Fills the new data directory `dataDir` from the template; false when there is none, or it could
 * not be used (PGlite then runs initdb). Unpacked beside and renamed into place: a start cut short
 * leaves no half-made database for the next to take for a made one. The caller holds the directory.
 */
async function seed(dataDir: string, places: TemplatePlaces): Promise<boolean> {
  const template = await findTemplate(places);
  if (!template) return false;
  const beside = `${dataDir}.new`;
  try {
    rmSync(beside, { recursive: true, force: true });
    extractTar(unpack(template), beside);
    if (!existsSync(path.join(beside, "PG_VERSION"))) throw new Error("the template holds no database");
    if (existsSync(dataDir)) rmSync(dataDir, { recursive: true });
    renameSync(beside, dataDir);
    return true;
  } catch {
    forget(template);
    rmSync(beside, { recursive: true, force: true });
    return false;
  }
}

export interface CreatePgliteOptions extends Pick<PGliteOptions, "parsers" | "serializers"> {
  /** The data directory; unset for a database in memory. */
  dataDir?: string;
  /**
   * The schema the store will use. A database made from the template holds TEMPLATE_SCHEMA migrated;
   * for another schema (or null, for none) it is dropped, so the database holds only what initdb made.
   */
  schema: string | null;
  places?: TemplatePlaces;
}

/**
 * PGlite on `dataDir` (or in memory), made from the template when the database is new. A directory
 * that already holds a database is opened as it is.
 */
export async function createPglite(options: CreatePgliteOptions): Promise<PGlite> {
  const { dataDir, schema, places = defaultPlaces(), ...rest } = options;
  let db: PGlite | undefined;
  if (dataDir === undefined) {
    db = await fromArchive(places, rest);
  } else if (isNew(dataDir) && (await seed(dataDir, places))) {
    db = await PGlite.create({ ...rest, dataDir });
  }
  if (!db) return PGlite.create({ ...rest, dataDir });
  if (schema !== TEMPLATE_SCHEMA) await db.exec(`drop schema ${quoteIdentifier(TEMPLATE_SCHEMA)} cascade`);
  return db;
}

/** An in-memory PGlite loaded from the template, or undefined when there is none or it would not load. */
async function fromArchive(
  places: TemplatePlaces,
  rest: Omit<CreatePgliteOptions, "dataDir" | "schema" | "places">,
) {
  const template = await findTemplate(places);
  if (!template) return undefined;
  try {
    // Given gzipped, PGlite unpacks it straight into its file system: unpacked here first, the
    // whole tarball would be one more copy in memory while it loads.
    const archive = new Blob([template.bytes], { type: "application/x-gzip" });
    return await PGlite.create({ ...rest, loadDataDir: archive });
  } catch {
    forget(template);
    return undefined;
  }
}
