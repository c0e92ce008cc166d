/**
 * FlowstorePausedRuns with a real Agent and a deterministic model of the test's own: a run paused on
 * two tool approvals is saved, listed (by agent, session, tool, age), decided once each (a second
 * decider is told who decided and how), resumed once (a second resumer is told it is taken) and run on:
 * the approved tool runs once, the rejected one's message reaches the model. A run still waiting, past
 * its expiry, or whose state no longer restores is refused and stays as it was; bad input writes nothing.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, type RunState, run, setTracingDisabled } from "@openai/agents";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstorePausedRuns } from "../../../src/adapters/openai-agents/index.js";
import { ConflictError, NotFoundError, type Store, ValidationError } from "../../../src/index.js";
import { type OpsModel, opsAgent } from "../../fixtures/agents-ops.js";
import { forEachDriver } from "../../support/harness.js";

setTracingDisabled(true);

/** The SDK's core installed here (its version is recorded with each saved run). */
const SDK_VERSION = JSON.parse(readFileSync("node_modules/@openai/agents-core/package.json", "utf8"))
  .version as string;

/** The shared Ops agent (it calls delete_file and send_email at once, then says "Done."), counting its tools' runs. */
function ops(name = "Ops") {
  const ran = { deleteFile: 0, sendEmail: 0 };
  const agent = opsAgent({
    name,
    onRun: (tool) => (tool === "delete_file" ? ran.deleteFile++ : ran.sendEmail++),
  });
  return { agent, model: agent.model as OpsModel, ran };
}

async function countRows(store: Store): Promise<{ runs: number; approvals: number }> {
  const { rows } = await store.query<{ runs: number; approvals: number }>(
    `select (select count(*)::int from "${store.schema}".agent_paused_runs) as runs,
            (select count(*)::int from "${store.schema}".agent_run_approvals) as approvals`,
  );
  return rows[0] as { runs: number; approvals: number };
}

forEachDriver((d) => {
  let store: Store;
  beforeAll(async () => {
    store = await d.open();
  });

  /** A run of a fresh agent paused on its two approvals, saved. */
  async function pausedRun(runs: FlowstorePausedRuns, sessionId?: string, agentName = "Ops") {
    const made = ops(agentName);
    const result = await run(made.agent, "clean up and tell a@b.c");
    expect(result.interruptions).toHaveLength(2);
    const saved = await runs.save(result, sessionId === undefined ? {} : { sessionId });
    return { ...made, saved };
  }

  describe("a run paused on approvals", () => {
    it("is saved with its approvals, decided once each, resumed once, and the approved tool runs once", async () => {
      const runs = new FlowstorePausedRuns({ store });
      const sessionId = `s-${randomUUID()}`;
      const { agent, model, ran, saved } = await pausedRun(runs, sessionId);
      expect(saved).toMatchObject({
        sessionId,
        agentName: "Ops",
        status: "paused",
        resumedBy: null,
        sdkVersion: SDK_VERSION,
        approvals: [
          { callId: "call_del", toolName: "delete_file", arguments: '{"path":"/tmp/x"}', decision: null },
          { callId: "call_mail", toolName: "send_email", arguments: '{"to":"a@b.c"}', decision: null },
        ],
      });
      expect(saved.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 6 * 24 * 3600_000);
      expect(ran).toEqual({ deleteFile: 0, sendEmail: 0 });

      const approved = await runs.approve(saved.id, "call_del", { by: "alice" });
      expect(approved).toMatchObject({ decision: "approved", decidedBy: "alice", always: false });
      // Partly decided: still listed, and not resumable.
      await expect(runs.resume(saved.id, agent, { by: "worker-1" })).rejects.toThrow(
        /still waits on 1 approval\(s\): send_email \(call_mail\)/,
      );
      expect((await runs.get(saved.id))?.status).toBe("paused");
      await runs.reject(saved.id, "call_mail", { by: "bob", always: true, message: "No emails today." });

      // The second decider of a call is told who decided it and how; nothing changes.
      const second = runs.approve(saved.id, "call_mail", { by: "carol" });
      await expect(second).rejects.toBeInstanceOf(ConflictError);
      await expect(second).rejects.toThrow(/already rejected for every call of the tool by bob at/);
      expect((await runs.get(saved.id))?.approvals[1]).toMatchObject({
        decision: "rejected",
        always: true,
        message: "No emails today.",
        decidedBy: "bob",
      });

      const state = await runs.resume(saved.id, agent, { by: "worker-1" });
      const done = await run(agent, state);
      expect(done.finalOutput).toBe("Done.");
      expect(ran).toEqual({ deleteFile: 1, sendEmail: 0 });
      // The rejection's message went to the model as the email tool's output.
      expect(JSON.stringify(model.requests.at(-1)?.input)).toContain("No emails today.");

      const again = runs.resume(saved.id, agent, { by: "worker-2" });
      await expect(again).rejects.toBeInstanceOf(ConflictError);
      await expect(again).rejects.toThrow(/already resumed by worker-1 at/);
      expect(await runs.get(saved.id)).toMatchObject({ status: "resumed", resumedBy: "worker-1" });
      await expect(runs.approve(saved.id, "call_del", { by: "dave" })).rejects.toThrow(/already resumed/);
    });

    it("lists waiting runs oldest first, by agent, session, tool and age, a page at a time", async () => {
      const runs = new FlowstorePausedRuns({ store });
      const session = `list-${randomUUID()}`;
      const agentName = `Lister-${randomUUID().slice(0, 8)}`;
      const first = (await pausedRun(runs, session, agentName)).saved;
      const second = (await pausedRun(runs, session, agentName)).saved;
      const other = (await pausedRun(runs, `other-${randomUUID()}`, agentName)).saved;
      const ids = (list: { id: string }[]) => list.map((r) => r.id);

      expect(ids(await runs.list({ agent: agentName }))).toEqual([first.id, second.id, other.id]);
      expect(ids(await runs.list({ sessionId: session }))).toEqual([first.id, second.id]);
      expect(ids(await runs.list({ agent: agentName, limit: 2 }))).toEqual([first.id, second.id]);
      expect(ids(await runs.list({ agent: agentName, after: second.id }))).toEqual([other.id]);
      // By tool: a run whose send_email is decided waits on it no more.
      await runs.approve(second.id, "call_mail", { by: "alice" });
      expect(ids(await runs.list({ agent: agentName, tool: "send_email" }))).toEqual([first.id, other.id]);
      expect(ids(await runs.list({ agent: agentName, tool: "delete_file" }))).toEqual([
        first.id,
        second.id,
        other.id,
      ]);
      expect(await runs.list({ agent: agentName, olderThanMs: 3_600_000 })).toEqual([]);
      expect(await runs.list({ agent: agentName, status: "resumed" })).toEqual([]);
    });

    it("decides a call once when two deciders race: one wins, the other is told who and how", async () => {
      const runs = new FlowstorePausedRuns({ store });
      const { saved } = await pausedRun(runs);
      const results = await Promise.allSettled([
        runs.approve(saved.id, "call_del", { by: "alice" }),
        runs.reject(saved.id, "call_del", { by: "bob", message: "no" }),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]?.reason).toBeInstanceOf(ConflictError);
      const winner = (await runs.get(saved.id))?.approvals[0];
      expect(String(lost[0]?.reason.message)).toContain(
        `already ${winner?.decision} by ${winner?.decidedBy}`,
      );
    });

    it("resumes a run once when two resumers race: one gets the state, the other is told it is taken", async () => {
      const runs = new FlowstorePausedRuns({ store });
      const { agent, ran, saved } = await pausedRun(runs);
      await runs.approve(saved.id, "call_del", { by: "alice" });
      await runs.approve(saved.id, "call_mail", { by: "alice" });
      const results = await Promise.allSettled([
        runs.resume(saved.id, agent, { by: "worker-1" }),
        runs.resume(saved.id, agent, { by: "worker-2" }),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost[0]?.reason).toBeInstanceOf(ConflictError);
      expect(String(lost[0]?.reason.message)).toMatch(/already resumed by worker-[12]/);
      await run(agent, (won[0] as PromiseFulfilledResult<RunState<unknown, typeof agent>>).value);
      expect(ran).toEqual({ deleteFile: 1, sendEmail: 1 });
    });
  });

  describe("what is refused, with nothing changed", () => {
    it("refuses deciding or resuming a run past its expiry, and the retention task marks it expired", async () => {
      const runs = new FlowstorePausedRuns({ store, expireAfterMs: 0, keepFinishedMs: 0 });
      const { agent, saved } = await pausedRun(runs);
      await expect(runs.approve(saved.id, "call_del", { by: "alice" })).rejects.toThrow(
        /expired at .*: it can no longer be decided or resumed/,
      );
      await expect(runs.resume(saved.id, agent, { by: "w" })).rejects.toBeInstanceOf(ConflictError);
      expect((await runs.get(saved.id))?.approvals.map((a) => a.decision)).toEqual([null, null]);
      // Marked expired (as the retention task does first), then its record removed by the task.
      expect(await runs.expire()).toBeGreaterThanOrEqual(1);
      expect((await runs.get(saved.id))?.status).toBe("expired");
      await expect(runs.approve(saved.id, "call_del", { by: "alice" })).rejects.toThrow(/expired/);
      const round = (await runs.retentionTask().run(new AbortController().signal)) as { removed: number };
      expect(round.removed).toBeGreaterThanOrEqual(1);
      expect(await runs.get(saved.id)).toBeUndefined();
    });

    it("keeps waiting runs, and runs with no expiry, from the retention task", async () => {
      const runs = new FlowstorePausedRuns({ store, expireAfterMs: null, keepFinishedMs: 0 });
      const { saved } = await pausedRun(runs);
      expect(saved.expiresAt).toBeNull();
      await runs.retentionTask().run(new AbortController().signal);
      expect((await runs.get(saved.id))?.status).toBe("paused");
    });

    it("refuses a state that does not restore, naming why and both SDK versions, and the run stays paused", async () => {
      const runs = new FlowstorePausedRuns({ store });
      const { saved } = await pausedRun(runs, undefined, "Ops");
      await runs.approve(saved.id, "call_del", { by: "alice" });
      await runs.approve(saved.id, "call_mail", { by: "alice" });
      // An agent graph without the agent the state was paused in.
      const stranger = new Agent({ name: "Someone else", instructions: "Help." });
      await expect(runs.resume(saved.id, stranger, { by: "w" })).rejects.toThrow(
        new RegExp(`paused run ${saved.id} does not restore for agent "Someone else": .*Ops`),
      );
      // A state saved by a newer SDK, of a schema this one does not read.
      const q = `"${store.schema}".agent_paused_runs`;
      await store.query(
        `update ${q} set sdk_version = '0.99.0', state_schema = '1.99',
                state = replace(state, '"$schemaVersion":"' || state_schema || '"', '"$schemaVersion":"1.99"')
          where id = $1`,
        [saved.id],
      );
      const { agent } = ops();
      await expect(runs.resume(saved.id, agent, { by: "w" })).rejects.toThrow(
        new RegExp(
          `1\\.99 is not supported.*saved by @openai/agents-core 0\\.99\\.0 \\(run state schema 1\\.99\\), and this process has ${SDK_VERSION.replaceAll(".", "\\.")}`,
        ),
      );
      expect(await runs.get(saved.id)).toMatchObject({ status: "paused", resumedBy: null });
    });

    it("refuses bad input with a ValidationError or NotFoundError, and writes nothing", async () => {
      const runs = new FlowstorePausedRuns({ store });
      const before = await countRows(store);
      // A finished run has nothing to decide.
      const { agent } = ops();
      const finished = await run(agent, "hello");
      await expect(runs.save(finished)).rejects.toThrow(/not paused on an approval/);
      await expect(runs.save({} as never)).rejects.toBeInstanceOf(ValidationError);
      const paused = await run(agent, "clean up");
      await expect(runs.save(paused, { sessionId: "a\u0000b" })).rejects.toBeInstanceOf(ValidationError);
      expect(() => new FlowstorePausedRuns({ store, expireAfterMs: -1 })).toThrow(ValidationError);
      expect(() => new FlowstorePausedRuns({ store, keepFinished: 1 } as never)).toThrow(ValidationError);
      await expect(runs.get("not-a-uuid")).rejects.toBeInstanceOf(ValidationError);
      await expect(runs.list({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
      await expect(runs.list({ status: "done" as never })).rejects.toBeInstanceOf(ValidationError);
      const missing = randomUUID();
      await expect(runs.approve(missing, "call_del", { by: "a" })).rejects.toBeInstanceOf(NotFoundError);
      await expect(runs.resume(missing, agent, { by: "a" })).rejects.toBeInstanceOf(NotFoundError);
      expect(await countRows(store)).toEqual(before);

      const { saved } = await pausedRun(runs);
      const after = await countRows(store);
      await expect(runs.approve(saved.id, "call_nope", { by: "a" })).rejects.toBeInstanceOf(NotFoundError);
      await expect(runs.approve(saved.id, "call_del", {} as never)).rejects.toBeInstanceOf(ValidationError);
      await expect(
        runs.approve(saved.id, "call_del", { by: "a", message: "m" } as never),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(runs.reject(saved.id, "call_del", { by: "a", message: "x\u0000" })).rejects.toBeInstanceOf(
        ValidationError,
      );
      expect(await countRows(store)).toEqual(after);
      expect((await runs.get(saved.id))?.approvals.map((a) => a.decision)).toEqual([null, null]);
    });
  });
});
