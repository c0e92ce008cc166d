/**
 * Cron schedules: a job enqueued at every tick of a cron expression in a time zone, once per tick
 * however many processes dispatch.
 *
 *   npx tsx examples/schedules.ts
 */
import { nextCronTicks, openStore } from "flowstore";

let reported: () => void = () => {};
const firstReport = new Promise<void>((resolve) => {
  reported = resolve;
});

// #region set
const store = await openStore();

// Creates the schedule, or replaces the one of that name.
await store.schedules.set({
  name: "nightly-report",
  cron: "30 2 * * *", // 02:30 every day
  timeZone: "Europe/Berlin", // default "UTC"
  queue: "reports",
  jobName: "build-report", // default: the schedule's name
  payload: { format: "pdf" }, // a JSON object
  missed: "skip", // or "backfill" (see below)
  priority: 5, // and maxAttempts, backoff, group: as for jobs.enqueue
});

// In every process that should dispatch (any number of them: a tick is enqueued once).
const dispatcher = store.schedules.startDispatcher();

// A worker for the jobs, as for any other queue.
const worker = store.jobs.work({
  queue: "reports",
  handler: async (job) => {
    const { format, _schedule } = job.payload as {
      format: string;
      _schedule: { name: string; tick: string; backfilled: boolean };
    };
    console.log(`${_schedule.name}: report for ${_schedule.tick} as ${format}`);
    reported();
  },
});
// #endregion

// A schedule that ticks every second (six fields: seconds first), so this example sees a job.
await store.schedules.set({
  name: "every-second",
  cron: "* * * * * *",
  queue: "reports",
  payload: { format: "csv" },
});
await firstReport;
await store.schedules.delete("every-second");

// #region calls
const one = await store.schedules.get("nightly-report"); // NotFoundError if there is none
console.log(`next run ${one.nextRunAt.toISOString()}, paused: ${one.pausedAt !== null}`);
console.log((await store.schedules.list()).map((s) => s.name)); // every schedule, by name

await store.schedules.pause("nightly-report"); // false if it was paused already
await store.schedules.resume("nightly-report"); // from its next tick after now

// Check an expression before setting it: its next ticks (ValidationError if it is not one).
console.log(nextCronTicks("0 9 * * mon-fri", { timeZone: "America/New_York", count: 3 }).length);

// Dispatch by hand, for a process that runs its own loop (or in your own transaction).
await store.schedules.dispatchDue({ limit: 100 });
await store.schedules.delete("nightly-report"); // false if there was none; its jobs stay

await worker.stop();
await dispatcher.stop(); // or store.close(), which stops both first
await store.close();
// #endregion
