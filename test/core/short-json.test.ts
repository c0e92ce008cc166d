/**
 * toShortJson (src/core/payload.ts): a value's JSON as toJson makes it, or undefined as soon as its
 * strings and keys alone reach the length asked, before any JSON is made (a Mastra snapshot is made
 * into JSON whole only while it is short; runs.ts, smallWhole).
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, toJson, toShortJson } from "../../src/core/payload.js";
import { ValidationError } from "../../src/index.js";

describe("toShortJson", () => {
  it("gives toJson's text for a value shorter than asked", () => {
    const value = { a: "x".repeat(10), list: [1, true, null, { b: "y" }], at: new Date(0) };
    expect(toShortJson(value, "v", DEFAULT_LIMITS, 1_000)).toBe(toJson(value, "v"));
  });

  it("gives undefined once the strings and keys with their quotes reach the length, and not before", () => {
    // {"ab":"xyz"}: the key with its quotes and colon 5, the string with its quotes 5.
    const value = { ab: "xyz" };
    expect(toShortJson(value, "v", DEFAULT_LIMITS, 11)).toBe('{"ab":"xyz"}');
    expect(toShortJson(value, "v", DEFAULT_LIMITS, 10)).toBeUndefined();
    expect(toShortJson(["x".repeat(100)], "v", DEFAULT_LIMITS, 50)).toBeUndefined();
  });

  it("looks no further than the length: what follows a long string is toJson's to refuse", () => {
    const value = { text: "x".repeat(100), bad: Number.NaN };
    expect(toShortJson(value, "v", DEFAULT_LIMITS, 50)).toBeUndefined();
    expect(() => toJson(value, "v")).toThrow(ValidationError);
  });

  it("refuses what toJson refuses in a short value", () => {
    for (const bad of [{ n: Number.NaN }, { n: 1n }, { s: "a\u0000b" }, undefined]) {
      expect(() => toShortJson(bad, "v", DEFAULT_LIMITS, 1_000)).toThrow(ValidationError);
    }
  });
});
