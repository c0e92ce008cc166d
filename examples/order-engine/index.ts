/**
 * The example engine: an order-fulfilment workflow engine built only on flowstore's public API.
 * Its code lives in src/demo/ so that it compiles into dist/ and `flowstore demo` (npm start) can
 * run it; this folder is where to read it from and run it on its own (see main.ts).
 */
export * from "../../src/demo/index.js";
