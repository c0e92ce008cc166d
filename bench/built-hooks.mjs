/**
 * The resolve hook of bench/built.mjs: a module of src/ (as tsx resolves `../src/x.js` to x.ts) is
 * loaded from its build in dist/. Modules of dist/ import each other by relative paths, so the whole
 * package is then one copy, the built one.
 */
let src = "";
let dist = "";

export function initialize(data) {
  src = data.src;
  dist = data.dist;
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  if (resolved.url.startsWith(src) && resolved.url.endsWith(".ts")) {
    return {
      ...resolved,
      url: `${dist}${resolved.url.slice(src.length, -".ts".length)}.js`,
      format: "module",
    };
  }
  return resolved;
}
