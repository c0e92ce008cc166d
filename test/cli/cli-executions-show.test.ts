/**
 * `flowstore executions show` and `list`, run from source as child processes, on the test server and
 * on an embedded store: a run's steps (an offloaded output named by its blob key), where it came from
 * (fork of a run at a step, its last rewind) and its forks, as text and as JSON; the list marks forks
 * and rewound runs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Execution, openStore, type StoreOptions } from "../../src/index.js";
import { runCli } from "../support/cli-run.js";
import { EMBEDDED_TESTED, fileDatabaseUrl, uniqueSchema } from "../support/harness.js";
import { recordedRun } from "../support/run-records.js";

const work = mkdtempSync(path.join(tmpdir(), "flowstore-cli-show-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BIG = { blob: "x".repeat(5_000) };

interface Seeded {
  durable: string;
  source: string;
  fork: Execution;
  rewound: Execution;
}

/** A run whose step 1 is offloaded; a run forked at step 2 and then rewound to step 3. */
async function seed(options: StoreOptions): Promise<Seeded> {
  const store = await openStore({ ...options, limits: { offloadAbove: 1024 } });
  try {
    const { execution } = await store.executions.start({ name: "import", status: "running" });
    await store.steps.record({ executionId: execution.id, number: 0, name: "fetch", output: { rows: 3 } });
    await store.steps.record({ executionId: execution.id, number: 1, name: "parse", output: BIG });
    await store.steps.record({
      executionId: execution.id,
      number: 2,
      name: "upload",
      error: new Error("no"),
      attempts: 3,
    });
    const source = await recordedRun(store);
    const fork = await store.executions.fork(source, { fromStep: 2 });
    const rewound = await store.executions.rewind(source, { toStep: 3 });
    return { durable: execution.id, source, fork, rewound };
  } finally {
    await store.close();
  }
}

const targets: Array<{
  name: string;
  store: () => Promise<StoreOptions>;
  flags: (o: StoreOptions) => string[];
}> = [
  {
    name: "on the server",
    store: async () => ({ connection: await fileDatabaseUrl(), schema: uniqueSchema("cli_show") }),
    flags: (o) => ["--url", o.connection as string, "--schema", o.schema as string],
  },
];
if (EMBEDDED_TESTED) {
  targets.push({
    name: "embedded",
    store: async () => ({ dataDir: mkdtempSync(path.join(work, "embedded-")) }),
    flags: (o) => ["--data-dir", o.dataDir as string],
  });
}

// Each command is a process of its own: seconds apiece on a loaded machine, more
// on an embedded store, which each opens anew; so a few commands per test.
describe.each(targets)("flowstore executions show and list $name", { timeout: 120_000 }, (target) => {
  let seeded: Seeded;
  let flowstore: (args: string[]) => ReturnType<typeof runCli>;
  beforeAll(async () => {
    const options = await target.store();
    seeded = await seed(options);
    flowstore = (args) => runCli([...target.flags(options), ...args], { cwd: work });
  }, 120_000);

  it("shows the steps: durations, outputs, errors, an offloaded output by its blob key", async () => {
    const steps = await flowstore(["executions", "show", seeded.durable]);
    expect(steps).toMatchObject({ code: 0, stderr: "" });
    expect(steps.stdout).toMatch(/^steps\n {2}0 {2}fetch {2}\d+ ms {2}\{"rows":3\}$/m);
    expect(steps.stdout).toMatch(
      /^ {2}1 {2}parse {2}\S+ m?s {2}offloaded \(JSON, 5011 bytes\): flowstore blobs get flowstore:offloaded\/\S+ -o -$/m,
    );
    expect(steps.stdout).toMatch(/^ {2}2 {2}upload {2}3 attempts {2}\S+ m?s {2}error Error: no$/m);
    expect(steps.stdout).not.toContain(BIG.blob);
  });

  it("shows a fork's source and step, and its copied steps, as text and as JSON", async () => {
    const { source, fork } = seeded;
    const forkText = (await flowstore(["executions", "show", fork.id])).stdout;
    expect(forkText).toContain(`  fork of    ${source} at step 2 (order, pending)\n`);
    expect(forkText).toMatch(/^ {2}0 {2}load {2}.* {2}\(forked from the source\)$/m);
    const forkJson = JSON.parse((await flowstore(["executions", "show", fork.id, "--json"])).stdout);
    expect(forkJson.origin).toEqual({
      fork: {
        of: source,
        step: 2,
        at: fork.createdAt.toISOString(),
        source: { name: "order", status: "pending" },
      },
      rewind: null,
    });
    expect(forkJson.steps.map((s: { number: number; copied: boolean }) => [s.number, s.copied])).toEqual([
      [0, true],
      [1, true],
    ]);
  });

  it("shows a rewound run's last rewind and its forks, as text and as JSON", async () => {
    const { source, fork, rewound } = seeded;
    const sourceText = (await flowstore(["executions", "show", source])).stdout;
    const at = rewound.rewoundAt?.toISOString();
    expect(sourceText).toContain(`  rewound    to step 3 at version ${rewound.version}, ${at}\n`);
    expect(sourceText).toContain(`forks\n  ${fork.id}  pending  from step 2\n`);
    const sourceJson = JSON.parse((await flowstore(["executions", "show", source, "--json"])).stdout);
    expect(sourceJson.origin).toEqual({ fork: null, rewind: { toStep: 3, version: rewound.version, at } });
    expect(sourceJson.forks).toEqual([
      { id: fork.id, status: "pending", forkStep: 2, createdAt: fork.createdAt.toISOString() },
    ]);
    expect(sourceJson.steps.map((s: { name: string }) => s.name)).toEqual(["load", "charge", "ship"]);
  });

  it("marks forks and rewound runs in the list, as text and as JSON", async () => {
    const { durable, source, fork } = seeded;
    const list = (await flowstore(["executions", "list"])).stdout;
    expect(list.split("\n")[0]).toMatch(/ origin$/);
    expect(list).toMatch(new RegExp(`^${fork.id} .* fork of ${source} at step 2$`, "m"));
    expect(list).toMatch(new RegExp(`^${source} .* rewound to step 3$`, "m"));
    expect(list).toMatch(new RegExp(`^${durable} .* -$`, "m"));
    const listed = JSON.parse((await flowstore(["executions", "list", "--json"])).stdout);
    expect(listed.items.find((e: { id: string }) => e.id === fork.id)).toMatchObject({
      forkOf: source,
      forkStep: 2,
    });
    expect(listed.items.find((e: { id: string }) => e.id === source)).toMatchObject({ rewoundToStep: 3 });
  });
});
