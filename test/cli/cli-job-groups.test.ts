/**
 * `flowstore jobs limits` shows and sets a queue's limits (and one group's), `flowstore jobs groups`
 * lists a queue's groups, `flowstore jobs forget` forgets an idle queue; bad values are refused with
 * nothing written. Against this file's database,
 * in a schema of its own.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { runCli } from "../support/cli-run.js";
import { fileDatabaseUrl, uniqueSchema } from "../support/harness.js";

const work = mkdtempSync(path.join(tmpdir(), "flowstore-groups-"));
const schema = uniqueSchema("cli_groups");
let url: string;
let store: Store;

beforeAll(async () => {
  url = await fileDatabaseUrl();
  store = await openStore({ connection: url, schema });
  await store.jobs.enqueue([
    { queue: "reports", name: "build", group: "acme" },
    { queue: "reports", name: "build", group: "acme" },
    { queue: "reports", name: "build", group: "tiny-co" },
  ]);
});
afterAll(async () => {
  await store.close();
  rmSync(work, { recursive: true, force: true });
});

const flowstore = (args: string[]) => runCli(["--url", url, "--schema", schema, ...args], { cwd: work });

// Each command is a process of its own: seconds apiece on a loaded machine.
describe("flowstore jobs groups and limits", { timeout: 120_000 }, () => {
  it("sets and shows a queue's limits and a group's own", async () => {
    expect((await flowstore(["jobs", "limits", "reports"])).stdout).toBe(
      "reports: group concurrency none, rate none\n",
    );
    const set = await flowstore([
      "jobs",
      "limits",
      "reports",
      "--group-concurrency",
      "2",
      "--rate",
      "100/1s",
    ]);
    expect(set).toMatchObject({ code: 0, stdout: "reports: group concurrency 2, rate 100 per 1000 ms\n" });
    expect(await store.jobs.limits("reports")).toEqual({
      groupConcurrency: 2,
      rate: { limit: 100, periodMs: 1000 },
      strictOrder: false,
    });
    const own = await flowstore(["jobs", "limits", "reports", "--group", "acme", "--group-concurrency", "5"]);
    expect(own).toMatchObject({ code: 0, stdout: "reports/acme: at most 5 running\n" });
    const json = JSON.parse((await flowstore(["jobs", "groups", "reports", "--json"])).stdout);
    expect(
      json.map((g: { name: string; concurrency: number | null; ready: number }) => [
        g.name,
        g.concurrency,
        g.ready,
      ]),
    ).toEqual([
      ["acme", 5, 2],
      ["tiny-co", null, 1],
    ]);
    const table = (await flowstore(["jobs", "groups", "reports"])).stdout;
    expect(table).toMatch(/group\s+limit\s+ready\s+running\s+last served/);
    const removed = await flowstore(["jobs", "limits", "reports", "--rate", "none"]);
    expect(removed.stdout).toBe("reports: group concurrency 2, rate none\n");
    const strict = await flowstore(["jobs", "limits", "reports", "--strict-order", "on"]);
    expect(strict.stdout).toBe(
      "reports: group concurrency 2 (strict order: one job per group at a time), rate none\n",
    );
    expect((await store.jobs.limits("reports")).strictOrder).toBe(true);
    const json2 = JSON.parse(
      (await flowstore(["jobs", "limits", "reports", "--strict-order", "off", "--json"])).stdout,
    );
    expect(json2).toMatchObject({ queue: "reports", strictOrder: false });
  });

  it("refuses bad values with a clear error and changes nothing", async () => {
    const before = await store.jobs.limits("reports");
    for (const args of [
      ["--group-concurrency", "two"],
      ["--group-concurrency", "0"],
      ["--rate", "100"],
      ["--rate", "0/1s"],
      ["--group", "acme", "--rate", "1/1s"],
      ["--strict-order", "yes"],
      ["--group", "acme", "--strict-order", "on"],
    ]) {
      const run = await flowstore(["jobs", "limits", "reports", ...args]);
      expect(run.code, args.join(" ")).toBe(1);
      expect(run.stderr, args.join(" ")).toMatch(/rate|concurrency|group|strict-order/);
    }
    const json = await flowstore(["jobs", "limits", "reports", "--rate", "fast", "--json"]);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: "VALIDATION", field: "rate" } });
    expect(await store.jobs.limits("reports")).toEqual(before);
  });

  it("forgets a queue that holds no job, and refuses one that holds jobs, removing nothing", async () => {
    await store.jobs.enqueue({ queue: "old-imports", name: "import" });
    const [job] = await store.jobs.claim({ queue: "old-imports", workerId: "w" });
    if (!job) throw new Error("no job claimed");
    await store.jobs.complete(job);
    const listed = async () => (await store.jobs.stats()).map((q) => q.queue);
    expect(await listed()).toContain("old-imports");

    const refused = await flowstore(["jobs", "forget", "reports"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("queue reports still holds jobs");
    expect(await listed()).toContain("reports");
    expect((await store.jobs.stats("reports"))[0]?.waiting).toBe(3);

    expect(await flowstore(["jobs", "forget", "old-imports"])).toMatchObject({
      code: 0,
      stdout: "forgot old-imports\n",
    });
    expect(await listed()).not.toContain("old-imports");
    const again = await flowstore(["jobs", "forget", "old-imports", "--json"]);
    expect(JSON.parse(again.stdout)).toEqual({ queue: "old-imports", forgotten: false });
  });
});
