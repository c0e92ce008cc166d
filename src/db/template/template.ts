/**
 * A new embedded database made from a template rather than by initdb. PGlite makes a database by
 * running initdb in a second WebAssembly instance beside its own, which is nearly all of a first
 * start's time and memory (seconds, and twice the memory of a later start); migrating the store's
 * schema is most of the rest. The template is a data directory made once, initdb'd and migrated in the
 * default schema, kept as a gzipped tarball (PGlite's dumpDataDir): a new database is that directory
 * unpacked (or loaded into memory), and starts as a made one does.
 *
 * The template also holds the history tables' first ranges, as a store opened on the day it was made
 * has them; a database made from it days later has its newest (empty) range stretched to today's
 * (partitions/template-ranges.ts), which costs less than making the ranges the days since would need.
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
import { homedir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { MemoryFS, PGlite, type PGliteOptions } from "@electric-sql/pglite";
import { installedVersion } from "../../config/installed-version.js";
import { loadMigrations, type Migration, migrationScript } from "../../migrations/runner.js";
import { quoteIdentifier } from "../sql.js";
import { optionalExtensions } from "./extensions.js";
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
  const version = installedVersion("@electric-sql/pglite", import.meta.url);
  if (version === undefined)
    throw new Error("the installed @electric-sql/pglite's package.json was not found");
  pgliteVersion = version;
  return pgliteVersion;
}

/** What a template holds besides its migrations; changed when that changes, so older ones are not used. */
const TEMPLATE_FORMAT = "migrations, first ranges, one database, a new log segment, no map forks";

/** The file name of the template for this PGlite and these migrations. */
export function templateName(migrations: Migration[] = loadMigrations()): string {
  const hash = createHash("sha256").update(
    `${installedPgliteVersion()}\n${TEMPLATE_SCHEMA}\n${TEMPLATE_FORMAT}\n`,
  );
  for (const migration of migrations) hash.update(`${migration.id} ${migration.checksum}\n`);
  return `pglite-${installedPgliteVersion()}-${migrations.length}-${hash.digest("hex").slice(0, 16)}.tar.gz`;
}

/**
 * The history tables' ranges in a new database, which partitions/ makes (the foundation, db/ among it,
 * imports no feature: the store hands these in; partitions/template-ranges.ts).
 */
export interface TemplateRanges {
  /** Makes the ranges a store opened now has, in a template being made. */
  make(db: PGlite, schema: string): Promise<void>;
  /** Fits the ranges of a database just made from a template to today (and the store's range length). */
  fit(db: PGlite, schema: string): Promise<void>;
}

/**
 * Makes a template: initdb in memory, the migrations applied in TEMPLATE_SCHEMA as `flowstore sql`
 * prints them (each recorded with its checksum, as the runner records it), the history tables' ranges
 * a store opened now makes, a checkpoint so the directory needs no recovery, and the gzipped tarball.
 */
export async function makeTemplate(
  ranges: TemplateRanges,
  migrations: Migration[] = loadMigrations(),
): Promise<Uint8Array> {
  const db = await PGlite.create();
  try {
    await db.exec(migrationScript(TEMPLATE_SCHEMA, migrations));
    await ranges.make(db, TEMPLATE_SCHEMA);
    await leaveOnlyWhatStarts(db);
    const dump = await db.dumpDataDir("gzip");
    return new Uint8Array(await dump.arrayBuffer());
  } finally {
    await db.close();
  }
}

/**
 * Leaves the data directory as small as the database PGlite serves needs it, as every new store writes
 * it to disk, where creating its files is most of a first start's cost: the template databases dropped
 * (template0 and template1, which CREATE DATABASE copies: PGlite serves the one database it opens, so a
 * database made beside it could not be used), a third of the files; and the write-ahead log switched to
 * a new segment before the checkpoint, which removes the old one rather than keep it for reuse (a new
 * store's 16 MB segment is then zeros but for the checkpoint, and written as a hole: tar.ts); and the
 * relations' free space and visibility maps removed, an eighth of the files, which PostgreSQL makes
 * again when it first needs one (a relation has none until then: a missing map is an empty one).
 */
async function leaveOnlyWhatStarts(db: PGlite): Promise<void> {
  await db.query("update pg_database set datistemplate = false where datname in ('template0', 'template1')");
  await db.query("drop database template0");
  await db.query("drop database template1");
  await db.query("set wal_recycle = off");
  await db.query("select pg_switch_wal()");
  await db.query("checkpoint");
  removeMapForks(db);
}

/** The free space maps and visibility maps of every relation, left out of the template (see above). */
function removeMapForks(db: PGlite): void {
  const fs = db.Module.FS;
  const root = PGlite.paths.PGDATA;
  const entries = (dir: string) => fs.readdir(dir).filter((name: string) => name !== "." && name !== "..");
  const dirs = [`${root}/global`, ...entries(`${root}/base`).map((oid: string) => `${root}/base/${oid}`)];
  for (const dir of dirs) {
    for (const name of entries(dir)) if (/^\d+_(fsm|vm)$/.test(name)) fs.unlink(`${dir}/${name}`);
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
 * The template's bytes: shipped, cached, or made now into the cache (with `ranges`: a template without
 * the history's ranges is never made). Undefined when there is none and none can be made, or the cache
 * directory cannot be written (making one only to throw it away costs more than initdb). Read once per
 * process: a test suite makes many stores.
 */
function findTemplate(
  places: TemplatePlaces,
  ranges: TemplateRanges | undefined,
): Promise<Found | undefined> {
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
      if (!ranges || !writable(places.cache)) return undefined;
      const bytes = await makeTemplate(ranges);
      try {
        writeTemplate(places.cache, name, bytes);
      } catch {
        // Another process may have filled the disk or taken the directory away: this start still has it.
      }
      return { bytes };
    })().catch(() => undefined);
    found.set(key, finding);
    // Not found is not remembered: a later start may be able to make one.
    void finding.then((template) => {
      if (!template && found.get(key) === finding) found.delete(key);
    });
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
async function seed(dataDir: string, places: TemplatePlaces, ranges?: TemplateRanges): Promise<boolean> {
  const template = await findTemplate(places, ranges);
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

/** What a new database is made for. */
export interface NewDatabase {
  /**
   * The schema the store will use. A database made from the template holds TEMPLATE_SCHEMA migrated;
   * for another schema (or null, for none) it is dropped, so the database holds only what initdb made.
   */
  schema: string | null;
  /**
   * How the history's ranges are made in a template and fitted in a database made from it. Without it
   * a template is used where one is found but none is made, and a new database's ranges are left as
   * the template has them (the store's opening then makes the ranges it lacks).
   */
  ranges?: TemplateRanges;
}

export interface CreatePgliteOptions extends NewDatabase, Pick<PGliteOptions, "parsers" | "serializers"> {
  /** The data directory; unset for a database in memory. */
  dataDir?: string;
  places?: TemplatePlaces;
}

/**
 * PGlite on `dataDir` (or in memory), made from the template when the database is new. A directory
 * that already holds a database is opened as it is.
 */
export async function createPglite(options: CreatePgliteOptions): Promise<PGlite> {
  const { dataDir, schema, ranges, places = defaultPlaces(), ...given } = options;
  const rest = { ...given, extensions: await optionalExtensions() };
  let db: PGlite | undefined;
  if (dataDir === undefined) {
    db = await fromArchive(places, ranges, rest);
  } else if (isNew(dataDir) && (await seed(dataDir, places, ranges))) {
    db = await PGlite.create({ ...rest, dataDir });
  }
  if (!db) return PGlite.create({ ...rest, dataDir });
  if (schema !== TEMPLATE_SCHEMA) await db.exec(`drop schema ${quoteIdentifier(TEMPLATE_SCHEMA)} cascade`);
  else await ranges?.fit(db, TEMPLATE_SCHEMA);
  return db;
}

/**
 * PGlite's in-memory file system, holding the template's files before PGlite looks for a database (so
 * it finds one, and runs no initdb). Unpacked here rather than by PGlite's loadDataDir, which reads the
 * archive as a stream and gunzips it in JavaScript: a third of a start's time.
 */
class TemplateMemoryFS extends MemoryFS {
  constructor(private readonly tar: Uint8Array) {
    super();
  }

  override async initialSyncFs(): Promise<void> {
    const fs = (this.pg as PGlite).Module.FS;
    extractTar(this.tar, PGlite.paths.PGDATA, {
      paths: path.posix,
      mkdir: (dir) => fs.mkdirTree(dir, 0o700),
      writeFile: (file, data) => fs.writeFile(file, data),
    });
  }
}

/** An in-memory PGlite made from the template, or undefined when there is none or it would not load. */
async function fromArchive(
  places: TemplatePlaces,
  ranges: TemplateRanges | undefined,
  rest: Omit<CreatePgliteOptions, "dataDir" | "schema" | "places" | "ranges"> &
    Pick<PGliteOptions, "extensions">,
) {
  const template = await findTemplate(places, ranges);
  if (!template) return undefined;
  try {
    return await PGlite.create({ ...rest, fs: new TemplateMemoryFS(unpack(template)) });
  } catch {
    forget(template);
    return undefined;
  }
}
