/**
 * Fork and rewind: run a workflow again from a step, as a new run (fork) or as the same run (rewind).
 *
 *   npx tsx examples/fork-rewind.ts
 */
import { openStore } from "flowstore";

const store = await openStore();
const { execution } = await store.executions.start({ name: "publish", input: { doc: "readme" } });
const runId = execution.id;
for (const [number, name] of ["draft", "review", "publish"].entries()) {
  await store.events.append(runId, { type: `${name}_started` });
  await store.steps.record({ executionId: runId, number, name, output: { [name]: "done" } });
}
await store.executions.complete(runId, { published: true });

/** What a run holds: its status, its steps and its history. */
async function show(label: string, id: string): Promise<void> {
  const run = await store.executions.get(id);
  const steps = (await store.steps.list(id)).map((s) => `${s.number} ${s.name}`);
  const events = (await store.events.list(id)).items.map((e) => e.type);
  console.log(
    `${label}: ${run.status}, version ${run.version}; steps [${steps.join(", ")}]; events [${events.join(", ")}]`,
  );
}

// #region fork-rewind
// A new run that keeps steps 0 and 1 (and what the run recorded up to step 1) and runs again from 2;
// the source is left as it was. fork.forkOf and fork.forkStep say where it came from.
const fork = await store.executions.fork(runId, { fromStep: 2 });

// The same run taken back to step 1: its steps from 1 on and what came after step 0 are deleted, it is
// pending again and its version moves on, so a writer holding the old version gets a ConflictError.
const rewound = await store.executions.rewind(runId, { toStep: 1 });

// A run that has not finished is refused (ConflictError) unless { force: true } is given.
// #endregion
console.log(`fork ${fork.id === runId ? "is" : "is not"} the source; forked at step ${fork.forkStep}`);
await show("fork", fork.id);
await show("rewound", rewound.id);
await store.close();
