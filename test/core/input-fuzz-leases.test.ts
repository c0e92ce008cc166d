/**
 * Property-based, as input-fuzz.test.ts: the queue's lease and admin methods, timer leases and
 * dispatch, and the remaining write methods. A lease is valid (from a real claim, in either case),
 * stale (a job's id with another claim's token), unknown, or malformed; a lease no longer held is a
 * LeaseLostError, and like every refusal it changes no row of the table the method writes.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { NotFoundError, type Store } from "../../src/index.js";
import {
  badUuid,
  checkProperty,
  date,
  EXPECTED_CODES,
  json,
  number,
  rowCounts,
  text,
  uuid,
  writeOrRefuse,
} from "../support/fuzz-inputs.js";
import { forEachDriver } from "../support/harness.js";

const LEASE_CODES = new Set([...EXPECTED_CODES, "LEASE_LOST"]);
const optionalNumber = fc.oneof(fc.constant(undefined), number);

interface Held {
  id: string;
  leaseToken: string;
}
/** Makes a lease out of the leases a run holds; `held` when it is (in any case) one of them. */
interface LeaseMaker {
  held: boolean | undefined;
  make: (leases: Held[]) => unknown;
}
const at = (leases: Held[], i: number) => leases[i % leases.length] as Held;
const leaseMaker: fc.Arbitrary<LeaseMaker> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.nat(2).map((i) => ({ held: true, make: (ls: Held[]) => ({ ...at(ls, i) }) })),
  },
  fc.nat(2).map((i) => ({
    held: true,
    make: (ls: Held[]) => ({
      id: at(ls, i).id.toUpperCase(),
      leaseToken: at(ls, i).leaseToken.toUpperCase(),
    }),
  })),
  // Stale: the job's id with the token of another claim.
  fc.nat(2).map((i) => ({
    held: false,
    make: (ls: Held[]) => ({ id: at(ls, i).id, leaseToken: at(ls, i + 1).leaseToken }),
  })),
  fc.tuple(uuid, uuid).map(([id, leaseToken]) => ({ held: false, make: () => ({ id, leaseToken }) })),
  fc
    .oneof(
      fc.constantFrom<unknown>(null, undefined, "lease", 42, {}, []),
      fc.record({ id: badUuid, leaseToken: uuid }),
      fc.record({ id: uuid, leaseToken: badUuid }),
      uuid.map((id) => ({ id, leaseToken: `${id.slice(0, 35)}g` })),
    )
    .map((bad) => ({ held: undefined, make: () => bad })),
);
/** One lease, or several; never held and lost ones together (complete finishes the held ones then). */
const leaseArgs = fc
  .oneof(
    leaseMaker.map((m) => ({ single: true, makers: [m] })),
    fc.array(leaseMaker, { maxLength: 3 }).map((makers) => ({ single: false, makers })),
  )
  .filter(({ makers }) => !(makers.some((m) => m.held === true) && makers.some((m) => m.held === false)));
const makeLeases = ({ single, makers }: { single: boolean; makers: LeaseMaker[] }, held: Held[]) =>
  single ? makers[0]?.make(held) : makers.map((m) => m.make(held));
const idsOf = (leases: unknown): string[] =>
  (Array.isArray(leases) ? leases : [leases]).map((l) => String((l as Held).id).toLowerCase());

forEachDriver((driver) => {
  describe("lease, admin and other write methods, fuzzed", () => {
    let store: Store;
    let n = 0;

    beforeAll(async () => {
      store = await driver.open();
    });

    /**
     * Three jobs in a queue of their own, claimed (or only enqueued). Each by a claim of its own: a
     * claim gives the jobs it leases one token, so a token of another claim is stale for each.
     */
    async function jobsInQueue(claim = true): Promise<{ queue: string; held: Held[] }> {
      const queue = `lease-${n++}`;
      await store.jobs.enqueue([0, 1, 2].map(() => ({ queue, name: "j", maxAttempts: 2 })));
      if (!claim) return { queue, held: [] };
      const held: Held[] = [];
      for (let i = 0; i < 3; i++) {
        for (const j of await store.jobs.claim({ queue, workerId: "w" })) {
          held.push({ id: j.id, leaseToken: j.leaseToken });
        }
      }
      return { queue, held };
    }

    async function dueTimers(): Promise<void> {
      const fireAt = new Date(Date.now() - 60_000);
      for (const name of ["a", "b"]) await store.timers.schedule({ name: `t-${n}-${name}`, fireAt });
      n++;
    }

    const leased = { codes: LEASE_CODES, unchanged: ["jobs"] };

    it("jobs.claim", () =>
      checkProperty(
        [fc.boolean(), text, text, optionalNumber, optionalNumber],
        async (own, q, workerId, limit, leaseMs) => {
          const { queue } = await jobsInQueue(false);
          const t0 = Date.now();
          await writeOrRefuse(
            store,
            () =>
              store.jobs.claim({
                queue: own ? queue : (q as string),
                workerId: workerId as string,
                limit: limit as number | undefined,
                leaseMs: leaseMs as number | undefined,
              }),
            async (claimed) => {
              expect(claimed.length).toBeLessThanOrEqual((limit as number | undefined) ?? 1);
              for (const job of claimed) {
                const read = await store.jobs.get(job.id);
                expect(read.status).toBe("running");
                expect(read.leaseOwner).toBe(workerId);
                expect(read.leaseExpiresAt?.getTime()).toBeGreaterThan(t0 - 5_000);
              }
            },
            { unchanged: ["jobs"] },
          );
        },
      ));

    it("jobs.complete", () =>
      checkProperty(
        [leaseArgs, fc.oneof(fc.constant(undefined), fc.boolean())],
        async (args, keepCompleted) => {
          const leases = makeLeases(args, (await jobsInQueue()).held);
          await writeOrRefuse(
            store,
            () => store.jobs.complete(leases as Held[], { keepCompleted }),
            async () => {
              if (args.makers.some((m) => m.held !== true))
                throw new Error("completed leases it does not hold");
              for (const id of idsOf(leases)) {
                await expect(store.jobs.get(id)).rejects.toThrow(NotFoundError);
                const { rows } = await store.query(
                  `select 1 from "${store.schema}".jobs_history where id = $1`,
                  [id],
                );
                expect(rows).toHaveLength(keepCompleted ? 1 : 0);
              }
            },
            leased,
          );
        },
      ));

    it("jobs.fail", () =>
      checkProperty(
        [leaseMaker, json, fc.oneof(fc.constant(undefined), date)],
        async (maker, error, retryAt) => {
          const lease = maker.make((await jobsInQueue()).held);
          await writeOrRefuse(
            store,
            () => store.jobs.fail(lease as Held, error, { retryAt: retryAt as Date | undefined }),
            async (job) => {
              expect(maker.held).toBe(true);
              const read = await store.jobs.get(job.id);
              expect(read.status).not.toBe("running");
              expect(read.leaseOwner).toBeNull();
              expect(read.lastError).not.toBeNull();
              if (retryAt instanceof Date && read.status !== "dead") {
                expect(read.runAt.getTime()).toBe(retryAt.getTime());
              }
            },
            leased,
          );
        },
      ));

    it("jobs.heartbeat", () =>
      checkProperty([leaseArgs, optionalNumber], async (args, extendMs) => {
        const leases = makeLeases(args, (await jobsInQueue()).held);
        const t0 = Date.now();
        await writeOrRefuse(
          store,
          () => store.jobs.heartbeat(leases as Held[], { extendMs: extendMs as number | undefined }),
          async () => {
            if (args.makers.some((m) => m.held !== true)) throw new Error("extended leases it does not hold");
            for (const id of idsOf(leases)) {
              const read = await store.jobs.get(id);
              expect(read.status).toBe("running");
              const ext = (extendMs as number | undefined) ?? 30_000;
              expect(read.leaseExpiresAt?.getTime()).toBeGreaterThanOrEqual(t0 + ext - 5_000);
            }
          },
          leased,
        );
      }));

    it("jobs.release", () =>
      checkProperty(
        [leaseArgs, fc.oneof(fc.constant(undefined), fc.boolean())],
        async (args, countAttempt) => {
          const leases = makeLeases(args, (await jobsInQueue()).held);
          await writeOrRefuse(
            store,
            () => store.jobs.release(leases as Held[], { countAttempt }),
            async () => {
              if (args.makers.some((m) => m.held !== true))
                throw new Error("released leases it does not hold");
              for (const id of idsOf(leases)) {
                const read = await store.jobs.get(id);
                expect(read.status).toBe("waiting");
                expect(read.leaseOwner).toBeNull();
              }
            },
            leased,
          );
        },
      ));

    /** A dead job, a waiting one, and ids of every kind around them. */
    const jobIds = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.array(
          fc.oneof(
            fc.constantFrom<unknown>("dead", "DEAD", "waiting"),
            uuid,
            badUuid.filter((id) => id !== null),
          ),
          { maxLength: 4 },
        ),
      },
      fc.constantFrom<unknown>(null, undefined, "ids", 42, {}),
    );
    async function deadAndWaiting(ids: unknown) {
      const { queue, held } = await jobsInQueue();
      const dead = held[0] as Held;
      await store.jobs.fail(dead, "x", { retryAt: new Date() });
      const [again] = await store.jobs.claim({ queue, workerId: "w", leaseMs: 1 });
      if (again) await store.jobs.fail(again, "x");
      const waiting = (await store.jobs.enqueue({ queue, name: "w" })) as string;
      const deadId = again?.id ?? dead.id;
      const map = (id: unknown) =>
        id === "dead" ? deadId : id === "DEAD" ? deadId.toUpperCase() : id === "waiting" ? waiting : id;
      return { deadId, given: Array.isArray(ids) ? ids.map(map) : ids };
    }

    it("jobs.retry and cancel", () =>
      checkProperty([fc.boolean(), jobIds], async (cancel, ids) => {
        const { deadId, given } = await deadAndWaiting(ids);
        expect((await store.jobs.get(deadId)).status).toBe("dead");
        await writeOrRefuse(
          store,
          () => (cancel ? store.jobs.cancel(given as string[]) : store.jobs.retry(given as string[])),
          async (returned) => {
            const wanted = (given as string[]).map((id) => id.toLowerCase());
            for (const id of returned) expect(wanted).toContain(id);
            for (const id of wanted) {
              const read = await store.jobs.get(id).catch(() => null);
              if (cancel) expect(read).toBeNull();
              else if (id === deadId) expect(read).toMatchObject({ status: "waiting", attempts: 0 });
            }
          },
          { unchanged: ["jobs"] },
        );
      }));

    it("timers.claimDue", () =>
      checkProperty([text, optionalNumber, optionalNumber], async (workerId, limit, leaseMs) => {
        await dueTimers();
        await writeOrRefuse(
          store,
          () =>
            store.timers.claimDue({
              workerId: workerId as string,
              limit: limit as number | undefined,
              leaseMs: leaseMs as number | undefined,
            }),
          async (claimed) => {
            expect(claimed.length).toBeLessThanOrEqual(Number(limit ?? 100));
            for (const timer of claimed) {
              expect(timer.leaseOwner).toBe(workerId);
              // A lease that ended as it began is no lease: the timer is due to anyone at once.
              expect(timer.leaseExpiresAt?.getTime()).toBeGreaterThan(timer.updatedAt.getTime());
            }
          },
          { unchanged: ["timers"] },
        );
      }));

    it("timers.ack", () =>
      checkProperty([leaseMaker], async (maker) => {
        await dueTimers();
        const held = await store.timers.claimDue({ workerId: "w", limit: 100 });
        const lease = maker.make(held.map((t) => ({ id: t.id, leaseToken: t.leaseToken })));
        await writeOrRefuse(
          store,
          () => store.timers.ack(lease as Held),
          async () => {
            expect(maker.held).toBe(true);
            const { rows } = await store.query(`select 1 from "${store.schema}".timers where id = $1`, [
              idsOf(lease)[0],
            ]);
            expect(rows).toHaveLength(0);
          },
          { codes: LEASE_CODES, unchanged: ["timers"] },
        );
      }));

    it("timers.dispatchDue", () =>
      checkProperty([optionalNumber], async (limit) => {
        await dueTimers();
        let before: Record<string, number> = {};
        await writeOrRefuse(
          store,
          async () => {
            before = await rowCounts(store);
            return store.timers.dispatchDue({ limit: limit as number | undefined });
          },
          async (fired) => {
            expect(fired).toBeLessThanOrEqual(Number(limit ?? 500));
            const after = await rowCounts(store);
            expect((before.timers ?? 0) - (after.timers ?? 0)).toBe(fired);
            expect((after.jobs ?? 0) - (before.jobs ?? 0)).toBe(fired);
          },
          { unchanged: ["timers"] },
        );
      }));
  });
});
