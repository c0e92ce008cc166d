/**
 * The run page's Fork and Rewind (client.ts puts them in its closure, beside el(), api() and
 * setLive()): store operations, no engine involved. Offered on a finished run of a store that is not
 * read-only; the step is asked for, the action confirmed, then POSTed with the CSRF header as every
 * action is. A fork opens the new run; a rewind shows the run again, pending.
 */
export const RUN_ACTIONS_JS = `  function askStep(what) {
    var given = window.prompt(what + " (a step number, 0 or more)");
    if (given === null) return null;
    if (!/^[0-9]+$/.test(given.trim())) {
      setLive(false, "not a step number: " + given);
      return null;
    }
    return given.trim();
  }
  function forkRun(id, button) {
    var step = askStep("Fork as a new run, keeping the steps below");
    if (step === null || !window.confirm("Start a new run that keeps steps 0 to " + (step - 1) + " and runs again from step " + step + "?")) return;
    button.disabled = true;
    api("/api/executions/" + encodeURIComponent(id) + "/fork?fromStep=" + step, { method: "POST" })
      .then(function (d) {
        history.pushState(null, "", "/executions/" + encodeURIComponent(d.id));
        setLive(true, "forked from step " + step + " as a new run");
      })
      .catch(function (err) { setLive(false, "fork failed: " + err.message); button.disabled = false; })
      .then(refresh);
  }
  function rewindRun(id, button) {
    var step = askStep("Rewind this run to step");
    if (step === null || !window.confirm("Delete this run's steps from " + step + " on, and what it recorded after them?")) return;
    button.disabled = true;
    api("/api/executions/" + encodeURIComponent(id) + "/rewind?toStep=" + step, { method: "POST" })
      .then(function () { setLive(true, "rewound to step " + step); })
      .catch(function (err) { setLive(false, "rewind failed: " + err.message); button.disabled = false; })
      .then(refresh);
  }
  // The buttons for a run: a run still going is refused by the store (unless forced), so none is offered.
  function runActions(e) {
    if (READ_ONLY || ["completed", "failed", "cancelled", "timed_out"].indexOf(e.status) < 0) return [];
    var fork = el("button", { type: "button", class: "fork", onclick: function () { forkRun(e.id, fork); } },
      "Fork from step\\u2026");
    var rewind = el("button", { type: "button", class: "rewind", onclick: function () { rewindRun(e.id, rewind); } },
      "Rewind to step\\u2026");
    return [" ", fork, " ", rewind];
  }
`;
