/**
 * The threads page of the dashboard's script (client.ts puts it in its closure, beside el(), table()
 * and link()): LangGraph's threads, newest write first, and one thread's checkpoints, each with its
 * step, source, channels and pending writes, its metadata behind "show". Text nodes only, as everywhere.
 */
export const THREADS_JS = String.raw`  function threadLink(scope, threadId, label) {
    return link("/threads?" + new URLSearchParams({ scope: scope, thread: threadId }).toString(), label);
  }

  pages.threads = {
    load: function () {
      var q = new URLSearchParams(location.search);
      if (q.get("thread") !== null) {
        var one = new URLSearchParams({ scope: q.get("scope") || "", thread: q.get("thread") });
        return api("/api/threads/checkpoints?" + one.toString()).then(function (d) { return { thread: d }; });
      }
      var params = new URLSearchParams();
      if (q.get("after")) params.set("after", q.get("after"));
      return api("/api/threads?" + params.toString()).then(function (d) { return { list: d }; });
    },
    render: function (r) {
      if (r.thread) {
        var t = r.thread;
        return [el("h1", null, "Thread ", t.threadId), el("p", { class: "muted" }, "scope ", t.scope || "(default)",
          " \u00b7 ", link("/threads", "all threads")),
          table(["checkpoint", "namespace", "step", "source", "created", "channels", "pending writes", "metadata"],
            t.checkpoints.map(function (c) {
              return [c.checkpointId, c.namespace || "-", c.step === null ? "-" : c.step, c.source || "-",
                time(c.createdAt), c.channels.join(", ") || "-", c.writes,
                el("details", null, el("summary", null, "show"), json(c.metadata))];
            }), "no checkpoints")];
      }
      var d = r.list;
      var next = d.nextAfter ? link("/threads?after=" + encodeURIComponent(d.nextAfter), "next page \u2192") : null;
      return [el("h1", null, "LangGraph threads"),
        table(["thread", "scope", "checkpoints", "last written"], d.items.map(function (t) {
          return [threadLink(t.scope, t.threadId, t.threadId), t.scope || "(default)", t.checkpoints, time(t.updatedAt)];
        }), "no threads: a graph compiled with flowstore/langgraph's saver keeps them here"),
        el("div", { class: "filters" }, next)];
    },
  };
`;
