/** Helpers shared by the connection-configuration tests (config-*.test.ts). */
import { expect } from "vitest";
import type { ConnectionConfig } from "../../src/config/connection-config.js";
import type { ConnectionFields } from "../../src/config/connection-string.js";
import { resolveConnection } from "../../src/config/environment.js";
import { ValidationError } from "../../src/core/errors.js";

/** Runs fn and returns the ValidationError it threw (failing the test if it threw anything else). */
export function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error("expected a ValidationError, nothing was thrown");
}

/** A resolved ConnectionConfig for explicit fields, with no environment variables in play. */
export function config(fields: ConnectionFields = {}): ConnectionConfig {
  const resolved = resolveConnection(fields, {});
  if (!resolved) throw new Error("unreachable: explicit input always resolves");
  return resolved;
}
