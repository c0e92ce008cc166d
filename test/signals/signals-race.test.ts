/**
 * One holder per token, even when the holders are new: executions started in the same transactions
 * that claim one token, over several stores at once. A claim must never take a token from an
 * execution that committed while the claim waited for it.
 */
import { describe, expect, it } from "vitest";
import type { SignalClaim, Store } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";
import { definition } from "../support/workflow-fixtures.js";

const ROUNDS = 10;
const CLAIMERS = 8;

forEachDriver((driver) => {
  describe("signals under racing claims", () => {
    it("gives a token to exactly one of the executions started and claiming it at once", async () => {
      const first = await driver.open({ pool: { max: 4 } });
      const others: Store[] = [];
      for (let i = 0; i < 3; i++) others.push(await driver.open({ schema: first.schema, pool: { max: 4 } }));
      const stores = [first, ...others];
      const def = await definition(first);
      for (let round = 0; round < ROUNDS; round++) {
        const token = `hook:race-${round}`;
        const outcomes = await Promise.all(
          Array.from({ length: CLAIMERS }, (_, i) =>
            (stores[i % stores.length] as Store).transaction(async (tx) => {
              const { execution } = await tx.executions.start({ definitionId: def.id, status: "running" });
              const claim: SignalClaim = await tx.signals.claim(token, execution.id, { ifHeld: "return" });
              return { id: execution.id, claim };
            }),
          ),
        );
        const winners = outcomes.filter((o) => o.claim.claimed);
        expect({ round, winners: winners.length }).toEqual({ round, winners: 1 });
        const winner = winners[0]?.id;
        // Every loser was told the one holder, and the store names it too.
        for (const o of outcomes) {
          if (!o.claim.claimed) expect(o.claim.heldBy.executionId).toBe(winner);
        }
        expect((await first.signals.get(token))?.executionId).toBe(winner);
      }
    });
  });
});
