/**
 * Leases and options the input property tests found mishandled: an upper-case lease (UUIDs are taken
 * in either case) or the same lease twice completed, extended or released the job and then reported
 * its lease lost; and a null options object crashed collectGarbage with a TypeError.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type Store, ValidationError } from "../../src/index.js";
import { forEachDriver } from "../support/harness.js";

forEachDriver((driver) => {
  describe("lease and option input", () => {
    let store: Store;
    let n = 0;
    beforeAll(async () => {
      store = await driver.open();
    });

    async function claimOne() {
      const queue = `regress-${n++}`;
      await store.jobs.enqueue({ queue, name: "j" });
      const [job] = await store.jobs.claim({ queue, workerId: "w" });
      if (!job) throw new Error("nothing claimed");
      return { job, upper: { id: job.id.toUpperCase(), leaseToken: job.leaseToken.toUpperCase() } };
    }

    it("complete takes an upper-case lease given twice", async () => {
      const { job, upper } = await claimOne();
      await store.jobs.complete([upper, upper]);
      await expect(store.jobs.get(job.id)).rejects.toThrow(/not found/);
    });

    it("heartbeat takes an upper-case lease given twice", async () => {
      const { job, upper } = await claimOne();
      await store.jobs.heartbeat([upper, upper], { extendMs: 60_000 });
      expect((await store.jobs.get(job.id)).status).toBe("running");
    });

    it("release takes an upper-case lease, and the same lease twice", async () => {
      const first = await claimOne();
      await store.jobs.release(first.upper);
      expect((await store.jobs.get(first.job.id)).status).toBe("waiting");
      const second = await claimOne();
      await store.jobs.release([second.job, second.job]);
      expect((await store.jobs.get(second.job.id)).status).toBe("waiting");
    });

    it("collectGarbage refuses null options", async () => {
      await expect(store.blobs.collectGarbage(null as unknown as number)).rejects.toThrow(ValidationError);
    });
  });
});
