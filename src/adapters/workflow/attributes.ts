/**
 * Run attributes: string key-value pairs a run carries (`$parentRunId` and `$rootRunId` among them).
 * The World's rules: keys of 1 to 256 characters, `$` keys only for framework code
 * (`allowReservedAttributes`), values of at most 256 bytes, no key twice in one batch, at most 64 per run.
 */

export const ATTRIBUTE_MAX_PER_RUN = 64;
const KEY_MAX_LENGTH = 256;
const VALUE_MAX_BYTES = 256;

export interface AttributeChange {
  key: string;
  value: string | null;
}

export class AttributeValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AttributeValidationError";
  }
}

/** Checks a batch of changes against the run's present keys; throws AttributeValidationError. */
export function checkAttributeChanges(
  changes: readonly AttributeChange[],
  existing: Record<string, string>,
  allowReserved: boolean,
): void {
  const seen = new Set<string>();
  let count = Object.keys(existing).length;
  for (const { key, value } of changes) {
    if (typeof key !== "string" || key.length === 0 || key.length > KEY_MAX_LENGTH) {
      throw new AttributeValidationError(
        `Attribute key must be a string of 1 to ${KEY_MAX_LENGTH} characters`,
      );
    }
    if (!allowReserved && key.startsWith("$")) {
      throw new AttributeValidationError(
        `Attribute key ${JSON.stringify(key)} starts with reserved prefix "$": that namespace is for framework code`,
      );
    }
    if (value !== null && (typeof value !== "string" || Buffer.byteLength(value) > VALUE_MAX_BYTES)) {
      throw new AttributeValidationError(
        `Attribute value must be a string of at most ${VALUE_MAX_BYTES} bytes`,
      );
    }
    if (seen.has(key)) {
      throw new AttributeValidationError(
        `Attribute key ${JSON.stringify(key)} appears more than once in the batch`,
      );
    }
    seen.add(key);
    const present = Object.hasOwn(existing, key);
    if (value !== null && !present) count++;
    if (value === null && present) count--;
  }
  if (count > ATTRIBUTE_MAX_PER_RUN) {
    throw new AttributeValidationError(`Run attribute count would exceed limit ${ATTRIBUTE_MAX_PER_RUN}`);
  }
}

/** The attributes after the changes (null removes a key). */
export function applyAttributeChanges(
  existing: Record<string, string>,
  changes: readonly AttributeChange[],
): Record<string, string> {
  const next = { ...existing };
  for (const { key, value } of changes) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return next;
}

/** Initial attributes (a run's creation) as changes. */
export function initialChanges(attributes: Record<string, string> | undefined): AttributeChange[] {
  return Object.entries(attributes ?? {}).map(([key, value]) => ({ key, value }));
}
