import { ValidationError } from "../core/errors.js";

/**
 * A schema name must be a plain identifier: it is the one thing quoted into SQL text, everything
 * else travels as a `$n` parameter. Letters, digits and `_`, not starting with a digit, 1 to 63 bytes
 * (PostgreSQL's NAMEDATALEN limit; a longer name would be silently truncated).
 */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function validateSchemaName(schema: unknown): string {
  if (typeof schema !== "string" || !IDENTIFIER.test(schema) || Buffer.byteLength(schema) > 63) {
    throw new ValidationError(
      `invalid schema name ${JSON.stringify(schema)}: use letters, digits and _ (not starting with a digit), at most 63 bytes`,
      { field: "schema" },
    );
  }
  return schema;
}

/** Quotes a validated identifier; doubling quotes is belt and braces, since validation admits none. */
export function quoteIdentifier(name: string): string {
  return `"${validateSchemaName(name).replaceAll('"', '""')}"`;
}
