/**
 * The jest-style globals (describe, it, expect, the hooks) that suites written for jest expect, taken
 * from vitest: LangGraph's checkpointer suite is one.
 */
import * as vitest from "vitest";

Object.assign(globalThis, {
  describe: vitest.describe,
  it: vitest.it,
  test: vitest.test,
  expect: vitest.expect,
  beforeAll: vitest.beforeAll,
  afterAll: vitest.afterAll,
  beforeEach: vitest.beforeEach,
  afterEach: vitest.afterEach,
});
