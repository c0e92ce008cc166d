/**
 * The worker's types as an application meets them (checked by the type-checker, which CI runs): with
 * `transactional: true` a handler's `tx` is the store's transaction, never undefined; without it,
 * `tx` may be undefined; and the worker's option and context types are exported by name. The
 * functions below are never called: compiling is the test.
 */
import { describe, expectTypeOf, it } from "vitest";
import type { JobContext, Store, Transaction, TransactionalJobContext } from "../../src/index.js";

describe("worker types", () => {
  it("gives a transactional handler its transaction, typed present", () => {
    const start = (store: Store) =>
      store.jobs.work({
        queue: "q",
        transactional: true,
        handler: async (job, { tx }) => {
          expectTypeOf(tx).toEqualTypeOf<Transaction>();
          await tx.kv.set("seen", job.id, "yes");
        },
      });
    expectTypeOf(start).returns.toHaveProperty("stop");
    expectTypeOf<TransactionalJobContext<Transaction>["tx"]>().toEqualTypeOf<Transaction>();
  });

  it("leaves tx optional for a handler that is not transactional", () => {
    const start = (store: Store) =>
      store.jobs.work({
        queue: "q",
        handler: (_job, { tx }) => {
          expectTypeOf(tx).toEqualTypeOf<Transaction | undefined>();
        },
      });
    expectTypeOf(start).returns.toHaveProperty("stop");
    expectTypeOf<JobContext<Transaction>["tx"]>().toEqualTypeOf<Transaction | undefined>();
  });
});
