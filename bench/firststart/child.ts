/**
 * One start of the embedded store, measured in a process of its own (bench/firststart.ts runs it):
 *   open <dir>          openStore on the data directory <dir> (new or made), then close
 *   test-store          createTestStore() (in memory), then close
 *   no-template <dir>   the start without a template: PGlite makes the database itself (initdb) in <dir>,
 *                       or in memory for "memory", and openStore migrates it, as every first start did
 * Prints one JSON line: the open's wall and CPU time, the process's, and its peak resident memory.
 */
import { PGlite } from "@electric-sql/pglite";
import { openStore, type Store } from "../../src/index.js";
import { createTestStore } from "../../src/testing/index.js";

const [mode, where] = process.argv.slice(2);
const cpuMs = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};
const started = { wall: performance.now(), cpu: cpuMs() };
let store: Store;
let db: PGlite | undefined;
if (mode === "open" && where) store = await openStore({ dataDir: where });
else if (mode === "test-store") store = await createTestStore();
else if (mode === "no-template" && where) {
  db = await PGlite.create(where === "memory" ? {} : { dataDir: where });
  store = await openStore({ connection: db });
} else throw new Error(`usage: child.ts open <dir> | test-store | no-template <dir|memory>`);
const open = { wall: performance.now() - started.wall, cpu: cpuMs() - started.cpu };
await store.close();
await db?.close();
process.stdout.write(
  `${JSON.stringify({
    "open ms": open.wall,
    "open cpu ms": open.cpu,
    "process ms": performance.now(),
    "process cpu ms": cpuMs(),
    "peak MB": process.resourceUsage().maxRSS / 1024,
  })}\n`,
);
