/**
 * The benches measure flowstore as its users run it: the package as built (`dist/`, plain JavaScript
 * from tsc), not the TypeScript sources as tsx transpiles them, whose output wraps every function made
 * at run time in a naming helper (esbuild's keepNames) and weighs on each call the peers, run from their
 * own built packages, do not pay. Loaded with `--import` before bench/run.ts (see package.json): the
 * package is built first, once (a run under another Node.js inherits FLOWSTORE_BENCH_BUILT), then
 * every module of src/ a bench file imports is loaded from dist/ instead; the bench files themselves
 * stay TypeScript, run by tsx.
 */
import { spawnSync } from "node:child_process";
import { register } from "node:module";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);

// `--help` runs nothing: no build for it.
const helpOnly = process.argv.includes("--help") || process.argv.includes("-h");

if (!helpOnly && process.env.FLOWSTORE_BENCH_BUILT !== "1") {
  process.stderr.write("bench: building the package (npm run build), the code the benches run\n");
  const build = spawnSync("npm", ["run", "build", "--silent"], {
    cwd: fileURLToPath(root),
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (build.status !== 0) {
    process.stderr.write("bench: the build failed; see above\n");
    process.exit(build.status ?? 1);
  }
  process.env.FLOWSTORE_BENCH_BUILT = "1";
}

register(new URL("./built-hooks.mjs", import.meta.url), {
  data: { src: new URL("src/", root).href, dist: new URL("dist/", root).href },
});
