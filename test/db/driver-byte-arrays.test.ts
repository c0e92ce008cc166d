/**
 * Arrays of bytes as parameters (`bytea[]`, as batches send them through unnest): every element comes
 * back as it went, nulls, empty values and views into a larger buffer included.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe("bytea[] parameters", () => {
    let store: Store;

    beforeAll(async () => {
      store = await driver.open();
    });

    const roundTrip = async (values: (Uint8Array | null)[]) => {
      const { rows } = await store.query<{ n: number; b: Uint8Array | null }>(
        "select n::integer, b from unnest($1::bytea[]) with ordinality as u(b, n) order by n",
        [values],
      );
      return rows.map((row) => (row.b === null ? null : [...row.b]));
    };

    it("keeps every element, nulls and empty values included", async () => {
      const whole = Uint8Array.from({ length: 300 }, (_, i) => i % 256);
      const view = whole.subarray(7, 19);
      const values = [Buffer.from("ab"), null, new Uint8Array(0), view, whole, null];
      expect(await roundTrip(values)).toEqual(values.map((v) => (v === null ? null : [...v])));
    });

    it("takes an array of nulls only, and an empty array", async () => {
      expect(await roundTrip([null, null])).toEqual([null, null]);
      expect(await roundTrip([])).toEqual([]);
    });

    it("stores large values exactly", async () => {
      const large = Uint8Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 31) % 251);
      const { rows } = await store.query<{ same: boolean; length: number }>(
        "select ($1::bytea[])[2] = $2::bytea as same, length(($1::bytea[])[2]) as length",
        [[new Uint8Array(1), large], large],
      );
      expect(rows).toEqual([{ same: true, length: large.length }]);
    });
  });
});
