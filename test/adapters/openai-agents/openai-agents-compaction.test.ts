/**
 * FlowstoreSession as the `underlyingSession` of the SDK's OpenAIResponsesCompactionSession, the
 * wrapper that compacts a history with `responses.compact` and writes what it returns in place of the
 * history (clearSession, then addItems). The client is the test's own (nothing goes over the network):
 * it answers `responses.compact` with a compaction item and the user's last message, as the API does.
 * The compacted history is what the flowstore session then holds, in any process that opens it; a
 * compaction that fails changes nothing stored.
 */
import { randomUUID } from "node:crypto";
import { type AgentInputItem, OpenAIResponsesCompactionSession } from "@openai/agents";
import { beforeAll, describe, expect, it } from "vitest";
import { FlowstoreSession } from "../../../src/adapters/openai-agents/index.js";
import type { Store } from "../../../src/index.js";
import { forEachDriver } from "../../support/harness.js";

const user = (text: string): AgentInputItem => ({ role: "user", content: [{ type: "input_text", text }] });
const answer = (text: string): AgentInputItem => ({
  type: "message",
  role: "assistant",
  status: "completed",
  content: [{ type: "output_text", text }],
});

/** A client whose `responses.compact` keeps a summary and the last user message, and records each request. */
function compactingClient(fail = false) {
  const requests: { model: string; input?: unknown[] }[] = [];
  const client = {
    responses: {
      async compact(request: { model: string; input?: unknown[] }) {
        requests.push(request);
        if (fail) throw new Error("compaction refused");
        const lastUser = [...(request.input ?? [])]
          .reverse()
          .find((item) => (item as { role?: string }).role === "user");
        return {
          output: [
            { type: "compaction", encrypted_content: `summary of ${request.input?.length}` },
            lastUser,
          ],
          usage: { input_tokens: 10, output_tokens: 2, total_tokens: 12 },
        };
      },
    },
  };
  return { client: client as never, requests };
}

forEachDriver((d) => {
  let store: Store;
  beforeAll(async () => {
    store = await d.open();
  });

  describe("FlowstoreSession under OpenAIResponsesCompactionSession", () => {
    it("holds the compacted history in place of the old one, for any session object of its id", async () => {
      const sessionId = randomUUID();
      const { client, requests } = compactingClient();
      const compacting = new OpenAIResponsesCompactionSession({
        client,
        underlyingSession: new FlowstoreSession({ store, sessionId }),
        compactionMode: "input",
      });
      const history = [user("one"), answer("1"), user("two"), answer("2"), user("three"), answer("3")];
      await compacting.addItems(history);
      expect(await compacting.getItems()).toEqual(history);

      const result = await compacting.runCompaction({ force: true });
      expect(result).not.toBeNull();
      expect(requests).toHaveLength(1);
      expect(requests[0]?.input).toHaveLength(history.length);

      // What the API answered, as the wrapper writes it: the summary, and the last user message as sent.
      const sent = (requests[0]?.input ?? []) as { role?: string }[];
      const compacted = [
        { type: "compaction", encrypted_content: "summary of 6" },
        sent.filter((item) => item.role === "user").at(-1),
      ];
      expect(JSON.stringify(compacted[1])).toContain('"three"');
      const reopened = new FlowstoreSession({ store, sessionId });
      expect(JSON.parse(JSON.stringify(await reopened.getItems()))).toEqual(
        JSON.parse(JSON.stringify(compacted)),
      );
      // The conversation goes on after the compaction, through either object.
      await compacting.addItems([answer("3 again")]);
      expect((await reopened.getItems(1))[0]).toEqual(answer("3 again"));
      expect(await reopened.getItems()).toHaveLength(3);
    });

    it("leaves the stored history as it was when the compaction fails", async () => {
      const sessionId = randomUUID();
      const { client } = compactingClient(true);
      const compacting = new OpenAIResponsesCompactionSession({
        client,
        underlyingSession: new FlowstoreSession({ store, sessionId }),
        compactionMode: "input",
      });
      const history = [user("one"), answer("1"), user("two"), answer("2")];
      await compacting.addItems(history);
      await expect(compacting.runCompaction({ force: true })).rejects.toThrow("compaction refused");
      expect(await new FlowstoreSession({ store, sessionId }).getItems()).toEqual(history);
    });
  });
});
