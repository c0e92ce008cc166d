/**
 * The Mastra page of the dashboard's script (client.ts puts it in its closure, beside el(), table()
 * and link()): Mastra's workflow runs, newest first, of every workflow or of one, and one run with its
 * steps' statuses, its snapshot behind "show". Text nodes only, as everywhere.
 */
export const MASTRA_JS = String.raw`  function mastraRunLink(workflow, runId, label) {
    return link("/mastra?" + new URLSearchParams({ workflow: workflow, run: runId }).toString(), label);
  }

  pages.mastra = {
    load: function () {
      var q = new URLSearchParams(location.search);
      if (q.get("run") !== null) {
        var one = new URLSearchParams({ workflow: q.get("workflow") || "", run: q.get("run") });
        return api("/api/mastra/run?" + one.toString()).then(function (d) { return { run: d }; });
      }
      var params = new URLSearchParams();
      if (q.get("workflow")) params.set("workflow", q.get("workflow"));
      if (q.get("after")) params.set("after", q.get("after"));
      return api("/api/mastra/runs?" + params.toString()).then(function (d) { return { list: d, workflow: q.get("workflow") }; });
    },
    render: function (r) {
      if (r.run !== undefined) {
        var run = r.run;
        if (run === null) return [el("h1", null, "Mastra run"), el("p", { class: "muted" }, "no such run"), link("/mastra", "all runs")];
        return [el("h1", null, "Mastra run ", run.runId),
          el("p", { class: "muted" }, run.workflowName, " \u00b7 ", run.status || "-",
            run.resourceId ? " \u00b7 resource " + run.resourceId : "", " \u00b7 made ", time(run.createdAt),
            " \u00b7 written ", time(run.updatedAt), " \u00b7 ", link("/mastra", "all runs")),
          table(["step", "status", "kept"], run.steps.map(function (s) {
            return [s.id, s.status || "-", s.inRow ? "a row of its own" : "in the run's row"];
          }), "no steps yet"),
          el("details", null, el("summary", null, "snapshot"), json(run.snapshot))];
      }
      var d = r.list;
      var more = new URLSearchParams();
      if (r.workflow) more.set("workflow", r.workflow);
      if (d.nextAfter) more.set("after", d.nextAfter);
      var next = d.nextAfter ? link("/mastra?" + more.toString(), "next page \u2192") : null;
      return [el("h1", null, r.workflow ? "Mastra runs of " + r.workflow : "Mastra runs"),
        table(["run", "workflow", "status", "resource", "made", "written"], d.items.map(function (m) {
          return [mastraRunLink(m.workflowName, m.runId, m.runId),
            link("/mastra?workflow=" + encodeURIComponent(m.workflowName), m.workflowName),
            m.status || "-", m.resourceId || "-", time(m.createdAt), time(m.updatedAt)];
        }), "no runs: a Mastra with flowstore/mastra's storage keeps its workflow runs here"),
        el("div", { class: "filters" }, next)];
    },
  };
`;
