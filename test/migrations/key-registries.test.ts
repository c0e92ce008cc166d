/**
 * 0017 moves idempotency keys to a registry and drops the foreign key of signals: applied to a schema
 * at version 16 that holds a run with a key and a token, both still behave afterwards.
 */
import { describe, expect, it } from "vitest";
import { ConflictError, migrationScript, openStore } from "../../src/index.js";
import { loadMigrations } from "../../src/migrations/runner.js";
import { forEachDriver, runScript, uniqueSchema } from "../support/harness.js";

forEachDriver((driver) => {
  describe("0017_key_registries on a schema with data", () => {
    it("keeps an idempotency key and a token held before the migration", async () => {
      const schema = uniqueSchema("keys");
      const connection = await driver.connection();
      await runScript(connection, migrationScript(schema, loadMigrations().slice(0, 16)));
      const s = `"${schema}"`;
      const [a, b, c] = [
        "0190a000-0000-7000-8000-00000000000a",
        "0190a000-0000-7000-8000-00000000000b",
        "0190a000-0000-7000-8000-00000000000c",
      ];
      await runScript(
        connection,
        `insert into ${s}.executions (id, name, status, idempotency_key) values
           ('${a}', 'order', 'running', 'order-1'), ('${b}', 'order', 'running', null),
           ('${c}', 'order', 'completed', 'order-3');
         insert into ${s}.signals (token, execution_id) values ('hook:a', '${a}');`,
      );
      const store = await openStore({ connection, schema });
      try {
        expect((await store.migrationStatus()).pending).toBe(0);
        const again = await store.executions.start({ name: "order", idempotencyKey: "order-1" });
        expect(again).toMatchObject({ created: false, execution: { id: a } });
        expect((await store.executions.findByIdempotencyKey("order-3"))?.id).toBe(c);
        await expect(
          store.executions.upsert({ id: b, name: "order", status: "running", idempotencyKey: "order-1" }),
        ).rejects.toBeInstanceOf(ConflictError);
        expect((await store.signals.get("hook:a"))?.executionId).toBe(a);
        await expect(store.signals.claim("hook:a", b)).rejects.toBeInstanceOf(ConflictError);
        await store.executions.complete(a, null);
        expect((await store.signals.claim("hook:a", b)).signal.executionId).toBe(b);
        const fresh = await store.executions.start({ name: "order", idempotencyKey: "order-2" });
        expect(fresh.created).toBe(true);
      } finally {
        await store.close();
      }
    });
  });
});
