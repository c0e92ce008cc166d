/**
 * The agents page of the dashboard's script (client.ts puts it in its closure, beside el(), table()
 * and link()): the OpenAI Agents SDK's runs paused on approvals, longest waiting first, with each call
 * and its decision; the sessions, newest write first; and one session's newest items, each whole
 * behind "show". Text nodes only, as everywhere.
 */
export const AGENTS_JS = String.raw`  function sessionLink(sessionId, label) {
    return link("/agents?" + new URLSearchParams({ session: sessionId }).toString(), label);
  }

  function approvalList(approvals) {
    return el("ul", { class: "plain" }, approvals.map(function (a) {
      var decided = a.decision === null ? "waiting" :
        a.decision + (a.always ? " (always)" : "") + " by " + a.decidedBy + (a.message ? ": " + a.message : "");
      return el("li", null, a.toolName, "(", a.arguments || "", ") \u00b7 ", decided);
    }));
  }

  pages.agents = {
    load: function () {
      var q = new URLSearchParams(location.search);
      if (q.get("session") !== null) {
        var one = new URLSearchParams({ session: q.get("session") });
        return api("/api/agents/session?" + one.toString()).then(function (d) { return { session: d }; });
      }
      var params = new URLSearchParams();
      if (q.get("after")) params.set("after", q.get("after"));
      var runs = new URLSearchParams();
      if (q.get("runsAfter")) runs.set("after", q.get("runsAfter"));
      return Promise.all([api("/api/agents/approvals?" + runs.toString()), api("/api/agents/sessions?" + params.toString())])
        .then(function (d) { return { approvals: d[0], sessions: d[1] }; });
    },
    render: function (r) {
      if (r.session) {
        var s = r.session;
        return [el("h1", null, "Session ", s.sessionId),
          el("p", { class: "muted" }, s.total + " items", s.total > s.items.length ? " (the newest " + s.items.length + " shown)" : "",
            " \u00b7 ", link("/agents", "all sessions")),
          table(["#", "kind", "text", "item"], s.items.map(function (i) {
            return [i.position, i.kind, i.text || "-", el("details", null, el("summary", null, "show"), json(i.item))];
          }), "no items")];
      }
      var a = r.approvals, d = r.sessions;
      var nextRuns = a.nextAfter ? link("/agents?runsAfter=" + encodeURIComponent(a.nextAfter), "more waiting runs \u2192") : null;
      var next = d.nextAfter ? link("/agents?after=" + encodeURIComponent(d.nextAfter), "next page \u2192") : null;
      return [el("h1", null, "Approvals waiting"),
        table(["run", "agent", "session", "waiting since", "expires", "calls"], a.items.map(function (run) {
          return [run.id, run.agentName, run.sessionId ? sessionLink(run.sessionId, run.sessionId) : "-",
            time(run.createdAt), run.expiresAt ? time(run.expiresAt) : "never", approvalList(run.approvals)];
        }), "no run waits on an approval: flowstore/openai-agents' FlowstorePausedRuns keeps them here"),
        el("div", { class: "filters" }, nextRuns),
        el("h2", null, "Agent sessions"),
        table(["session", "items", "last written", "started"], d.items.map(function (t) {
          return [sessionLink(t.sessionId, t.sessionId), t.items, time(t.updatedAt), time(t.createdAt)];
        }), "no sessions: flowstore/openai-agents' FlowstoreSession keeps them here"),
        el("div", { class: "filters" }, next)];
    },
  };
`;
