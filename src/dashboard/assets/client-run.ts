/**
 * The run page of the dashboard's script (client.ts puts it in its closure, beside el(), api() and
 * the tables): the run's facts and where it came from, its timeline, steps, tasks, values, events,
 * timers, jobs, child runs and forks, and its actions (Cancel, Replay; Fork and Rewind are in
 * client-run-actions.ts). Text nodes only, as everywhere.
 */
export const RUN_JS = String.raw`  // Cancels the run, its unfinished child runs and the unfinished tasks of all of them.
  function cancelRun(id, button) {
    if (!window.confirm("Cancel this run, its unfinished child runs and their unfinished tasks?")) return;
    button.disabled = true;
    api("/api/executions/" + encodeURIComponent(id) + "/cancel", { method: "POST" })
      .then(function () { setLive(true, "run cancelled"); })
      .catch(function (err) { setLive(false, "cancel failed: " + err.message); })
      .then(refresh);
  }

  // Runs it again through the engine, after the operator confirms, and opens the new run.
  function replayRun(id, button) {
    if (!window.confirm("Run this again from the start, as a new run?")) return;
    button.disabled = true;
    api("/api/executions/" + encodeURIComponent(id) + "/replay", { method: "POST" })
      .then(function (d) {
        history.pushState(null, "", "/executions/" + encodeURIComponent(d.id));
        setLive(true, "replayed as a new run");
      })
      .catch(function (err) { setLive(false, "replay failed: " + err.message); })
      .then(refresh);
  }

  pages.execution = {
    load: function () {
      var id = decodeURIComponent(location.pathname.split("/")[2] || "");
      return api("/api/executions/" + encodeURIComponent(id));
    },
    render: function (d) {
      var e = d.execution;
      var finished = ["completed", "failed", "cancelled", "timed_out"].indexOf(e.status) >= 0;
      var cancel = !READ_ONLY && !finished ? el("button", { type: "button", class: "cancel",
        onclick: function () { cancelRun(e.id, cancel); } }, "Cancel run") : null;
      var replayable = REPLAYS && !READ_ONLY && ["failed", "cancelled", "timed_out"].indexOf(e.status) >= 0;
      var replay = replayable ? el("button", { type: "button", class: "replay",
        onclick: function () { replayRun(e.id, replay); } }, "Replay run") : null;
      return [
        el("h1", null, definitionLabel(e.definition), " ", badge(e.status), " ", cancel, replay, runActions(e)),
        originView(d.origin),
        el("dl", { class: "facts" },
          el("dt", null, "id"), el("dd", null, e.id),
          el("dt", null, "version"), el("dd", null, e.version),
          el("dt", null, "created"), el("dd", null, time(e.createdAt)),
          el("dt", null, "started"), el("dd", null, time(e.startedAt)),
          el("dt", null, "completed"), el("dd", null, time(e.completedAt)),
          el("dt", null, "duration"), el("dd", null, duration(e.durationMs)),
          el("dt", null, "idempotency key"), el("dd", null, e.idempotencyKey || "-"),
          el("dt", null, "parent"), el("dd", null, e.parentExecutionId ? executionLink(e.parentExecutionId) : "-")),
        section("Timeline", timelineView(d.timeline)),
        section("Steps", stepsTable(e.id, d.steps, d.stepsTruncated)),
        section("Tasks", [taskTree(d.tasks),
          d.tasksTruncated ? el("p", { class: "muted" }, "only the first tasks are shown") : null]),
        section("Events", eventsTable(e.id, d.events, d.earlierEvents)),
        section("Input", json(e.input)),
        section("Output", json(e.output)),
        e.error !== null ? section("Error", json(e.error)) : null,
        section("State", json(e.state)),
        section("Metadata", json(e.metadata)),
        section("Component state", table(["component", "version", "updated", "state"],
          d.componentState.map(function (c) {
            return [c.componentId, c.version, time(c.updatedAt), json(c.state)];
          }), "none")),
        section("Correlations", table(["key", "expires", "created"], d.correlations.map(function (c) {
          return [c.key, time(c.expiresAt), time(c.createdAt)];
        }), "none")),
        section("Timers", timerTable(d.timers)),
        section("Jobs", jobTable(d.jobs, false)),
        section("Child executions", table(["id", "workflow", "status", "created", "duration"],
          d.children.map(function (c) {
            return [executionLink(c.id), definitionLabel(c.definition), badge(c.status), time(c.createdAt),
              duration(c.durationMs)];
          }), "none")),
        section("Forks", forksTable(d.forks)),
      ];
    },
  };

  function taskTree(tasks) {
    if (!tasks.length) return el("p", { class: "muted" }, "no tasks");
    return el("table", { class: "tree" },
      el("thead", null, el("tr", null, ["task", "status", "type", "attempt", "duration", "agent / tool", "output"]
        .map(function (h) { return el("th", null, h); }))),
      el("tbody", null, tasks.map(function (t) {
        var name = el("td", { class: "task" }, t.depth ? "\u2514 " : "", t.taskId);
        name.style.paddingLeft = (0.5 + t.depth * 1.25) + "em";
        var details = el("details", { "data-keep": "task " + t.taskExecId }, el("summary", null, "show"), el("h3", null, "input"), json(t.input),
          el("h3", null, "output"), json(t.output), t.error !== null ? [el("h3", null, "error"), json(t.error)] : null);
        return el("tr", null, name, el("td", null, badge(t.status)),
          el("td", null, t.executionType), el("td", null, t.attempt), el("td", null, duration(t.durationMs)),
          el("td", null, [t.agentId, t.toolId].filter(Boolean).join(" / ") || "-"), el("td", null, details));
      })));
  }
`;
