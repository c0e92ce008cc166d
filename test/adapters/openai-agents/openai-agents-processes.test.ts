/**
 * flowstore/openai-agents across real processes, on both drivers (the embedded store reached through
 * the process that holds it): two processes deciding one call at once (one wins, the other is told who
 * decided), two resuming one run at once (one runs it, the tools run once in all), and a process killed
 * with SIGKILL while its run waits on the model in its second turn, whose conversation then goes on
 * from this process with nothing lost or doubled.
 */
import { randomUUID } from "node:crypto";
import { run, setTracingDisabled } from "@openai/agents";
import { afterAll, describe, expect, it } from "vitest";
import { FlowstorePausedRuns, FlowstoreSession } from "../../../src/adapters/openai-agents/index.js";
import { openStore, type Store, type StoreOptions } from "../../../src/index.js";
import { opsAgent } from "../../fixtures/agents-ops.js";
import { embeddedEnv, killAfterFile, tempDir } from "../../support/embedded-env.js";
import { type FixtureProcess, startFixture } from "../../support/fixture-process.js";
import { fileDatabaseUrl, forEachDriver, uniqueSchema } from "../../support/harness.js";
import { until } from "../../support/waiting.js";

setTracingDisabled(true);

const opened: Store[] = [];
afterAll(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

/** Where another process finds the store: the server's URL and schema, or the embedded data directory. */
async function storeOptions(driver: string): Promise<StoreOptions> {
  if (driver === "postgres") return { connection: await fileDatabaseUrl(), schema: uniqueSchema("agents") };
  return { dataDir: tempDir("agents"), env: embeddedEnv() };
}

/** Processes of the fixture, started at once and told to act once each has opened the store. */
async function together(calls: string[][], options: StoreOptions) {
  const children: FixtureProcess[] = calls.map(([mode, ...args]) => {
    const child = startFixture("agents-process.ts", [mode as string, JSON.stringify(options), ...args], {
      stdin: true,
      env: embeddedEnv(),
    });
    killAfterFile(child.child);
    return child;
  });
  await until(() => children.every((c) => c.lines.includes("ready")), 60_000);
  for (const c of children) c.child.stdin?.write("go\n");
  return children;
}

/** What each process printed last, once all have exited. */
async function outcomes(children: FixtureProcess[]): Promise<Record<string, unknown>[]> {
  await Promise.all(children.map((c) => c.exited));
  return children.map((c) => JSON.parse(c.lines.at(-1) as string));
}

describe("flowstore/openai-agents in several processes", () => {
  forEachDriver((d) => {
    it("decides a call once and resumes a run once when two processes race for each", {
      timeout: 120_000,
    }, async () => {
      const options = await storeOptions(d.name);
      const store = await openStore(options);
      opened.push(store);
      const runs = new FlowstorePausedRuns({ store });
      const ranHere: string[] = [];
      const agent = opsAgent({ onRun: (name) => ranHere.push(name) });
      const saved = await runs.save(await run(agent, "clean up"));
      await runs.approve(saved.id, "call_mail", { by: "alice" });

      const decided = await outcomes(
        await together(
          [
            ["decide", saved.id, "call_del", "approve", "bob"],
            ["decide", saved.id, "call_del", "reject", "carol"],
          ],
          options,
        ),
      );
      expect(decided.filter((o) => o.ok)).toHaveLength(1);
      const lost = decided.find((o) => !o.ok);
      const winner = (await runs.get(saved.id))?.approvals[0];
      expect(lost).toMatchObject({ error: "ConflictError" });
      expect(lost?.message).toContain(`already ${winner?.decision} by ${winner?.decidedBy}`);

      const resumed = await outcomes(
        await together(
          [
            ["resume", saved.id, "worker-1"],
            ["resume", saved.id, "worker-2"],
          ],
          options,
        ),
      );
      const ran = resumed.filter((o) => o.ok);
      expect(ran).toHaveLength(1);
      expect(ran[0]?.finalOutput).toBe("Done.");
      // The email was approved; the deletion ran only if approved. Once each, in one process.
      const expected = winner?.decision === "approved" ? ["delete_file", "send_email"] : ["send_email"];
      expect([...((ran[0]?.ran ?? []) as string[])].sort()).toEqual(expected);
      expect(resumed.find((o) => !o.ok)).toMatchObject({
        error: "ConflictError",
        message: expect.stringMatching(/already resumed by worker-[12]/),
      });
      expect(ranHere).toEqual([]);
    });

    it("keeps a conversation whose process was killed while its second turn waited on the model: nothing lost or doubled", {
      timeout: 120_000,
    }, async () => {
      const options = await storeOptions(d.name);
      const store = await openStore(options);
      opened.push(store);
      const sessionId = `killed-${randomUUID()}`;
      const [child] = (await together([["converse", sessionId]], options)) as [FixtureProcess];
      await until(() => child.lines.includes("waiting"), 60_000);
      child.child.kill("SIGKILL");
      expect(await child.exited).toBeNull();

      const session = new FlowstoreSession({ store, sessionId });
      const texts = async () =>
        (await session.getItems()).map((item) => {
          const content = (item as { content?: unknown }).content;
          const first = Array.isArray(content) ? content[0] : content;
          return `${(item as { role?: string }).role}: ${typeof first === "string" ? first : (first as { text?: string })?.text}`;
        });
      // The first turn whole. The second's input is not there: the SDK writes a turn's items to the
      // session once the model has answered, and the process died before it did.
      expect(await texts()).toEqual(["user: first turn", "assistant: Noted."]);

      const next = await run(opsAgent(), "and now?", { session });
      expect(next.finalOutput).toBe("Noted.");
      expect(await texts()).toEqual([
        "user: first turn",
        "assistant: Noted.",
        "user: and now?",
        "assistant: Noted.",
      ]);
    });
  });
});
