/**
 * The queues page of the dashboard's script (client.ts puts it in its closure, where el(), api() and
 * the other helpers are): the queue table with its Pause and Resume buttons, the cron schedules with
 * theirs, the jobs table with its Retry buttons, and the page itself. The same rule holds: stored values reach the page as text nodes.
 */
export const QUEUES_JS = String.raw`  function queueTable(stats, withActions) {
    var headers = ["queue", "waiting", "ready", "running", "dead", "oldest ready", "completed", "failed runs",
      "limits", "claiming"];
    return table(withActions && !READ_ONLY ? headers.concat([""]) : headers, stats.map(function (q) {
      var guess = q.estimated || [];
      var n = function (field) { return about(q[field], guess.indexOf(field) >= 0); };
      var row = [link("/queues?queue=" + encodeURIComponent(q.queue), q.queue), n("waiting"), n("ready"), n("running"),
        q.dead ? link("/queues?queue=" + encodeURIComponent(q.queue) + "&status=dead", n("dead")) : "0",
        q.oldestReadyAgeSeconds === null ? "-" : q.oldestReadyAgeSeconds.toFixed(1) + " s",
        q.completed === undefined ? "-" : q.completed, q.failed === undefined ? "-" : q.failed,
        limitsText(q.limits), q.paused ? badge("paused") : "on"];
      if (withActions && !READ_ONLY) {
        var action = q.paused ? "resume" : "pause";
        var button = el("button", { type: "button", class: action, "data-queue": q.queue,
          onclick: function () { pauseQueue(q.queue, action, button); } }, q.paused ? "Resume" : "Pause");
        row.push(button);
      }
      return row;
    }), "no queues");
  }

  // A queue's limits (jobs.setLimits): running jobs per group (one, in strict order), and jobs
  // claimed per period.
  function limitsText(limits) {
    if (!limits) return "-";
    var parts = [];
    if (limits.strictOrder) parts.push("strict order per group");
    else if (limits.groupConcurrency !== null) parts.push(limits.groupConcurrency + " per group");
    if (limits.rate !== null) parts.push(limits.rate.limit + " per " + limits.rate.periodMs + " ms");
    return parts.length ? parts.join(", ") : "-";
  }

  function pauseQueue(queue, action, button) {
    pauseOrResume("queues", "queue", queue, action, button);
  }
  // A queue's or a schedule's Pause or Resume button.
  function pauseOrResume(path, what, name, action, button) {
    button.disabled = true;
    api("/api/" + path + "/" + encodeURIComponent(name) + "/" + action, { method: "POST" })
      .then(function () { setLive(true, what + " " + name + (action === "pause" ? " paused" : " resumed")); })
      .catch(function (err) { setLive(false, action + " failed: " + err.message); })
      .then(refresh);
  }

  // Cron schedules: each enqueues a job into its queue at every tick; a paused one shows no next run.
  function scheduleTable(schedules) {
    var headers = ["schedule", "cron", "zone", "queue", "job", "missed", "next run", "last run"];
    return table(READ_ONLY ? headers : headers.concat([""]), schedules.map(function (s) {
      var row = [s.name, s.cron, s.timeZone, link("/queues?queue=" + encodeURIComponent(s.queue), s.queue),
        s.jobName, s.missed, s.pausedAt ? badge("paused") : time(s.nextRunAt), time(s.lastRunAt)];
      if (!READ_ONLY) {
        var action = s.pausedAt ? "resume" : "pause";
        var button = el("button", { type: "button", class: action, "data-schedule": s.name,
          onclick: function () { pauseOrResume("schedules", "schedule", s.name, action, button); } },
          s.pausedAt ? "Resume" : "Pause");
        row.push(button);
      }
      return row;
    }), "no schedules");
  }
  function jobTable(jobs, withRetry) {
    // absorbed: the enqueues a debounced, throttled or replaced job took in after its own. A job that
    // runs after others says how many of them have not completed yet.
    return table(["id", "queue", "name", "status", "attempts", "absorbed", "run at", "last error", ""], jobs.map(function (j) {
      var dead = withRetry && !READ_ONLY && j.status === "dead";
      var retry = dead ? el("button", { type: "button", class: "retry",
        "data-job": j.id, onclick: function () { retryJob(j.id, retry); } }, "Retry") : "";
      var remove = dead ? el("button", { type: "button", class: "delete",
        "data-job": j.id, onclick: function () { deadJobs("/api/jobs/" + encodeURIComponent(j.id) + "/delete",
          "Delete this dead job?", remove); } }, "Delete") : "";
      var status = j.waitingFor ? [badge(j.status), " after " + j.waitingFor] : badge(j.status);
      return [short(j.id), j.queue, j.name, status, j.attempts + "/" + j.maxAttempts, j.absorbed || "-", time(j.runAt),
        j.lastError ? String(j.lastError.message || "").slice(0, 200) : "-", dead ? [retry, " ", remove] : ""];
    }), "no jobs");
  }

  function retryJob(id, button) {
    button.disabled = true;
    api("/api/jobs/" + encodeURIComponent(id) + "/retry", { method: "POST" })
      .then(function () { setLive(true, "job retried"); })
      .catch(function (err) { setLive(false, "retry failed: " + err.message); })
      .then(refresh);
  }

  // A change to dead jobs (one, or all of a queue's), after the operator confirms it.
  function deadJobs(path, question, button) {
    if (!window.confirm(question)) return;
    button.disabled = true;
    api(path, { method: "POST" })
      .then(function (d) { setLive(true, (d.retried || d.deleted || []).length + " dead job(s) done"); })
      .catch(function (err) { setLive(false, "failed: " + err.message); })
      .then(refresh);
  }

  // The workers holding leases: a lease that runs out without a heartbeat is taken back by the next claim.
  // Claims per second: the growth of a worker's claim count between this reading and the one before.
  var claimReadings = {};
  function claimRate(w, now) {
    if (w.claims === null || w.claims === undefined) return "-";
    var key = w.workerId + "\u0000" + w.queue;
    var before = claimReadings[key];
    claimReadings[key] = { claims: w.claims, at: now };
    if (!before || now - before.at < 500 || w.claims < before.claims) return "-";
    return ((w.claims - before.claims) * 1000 / (now - before.at)).toFixed(1);
  }
  function workerTable(workers) {
    var now = Date.now();
    return table(["worker", "queue", "running", "claims/s", "last claim or heartbeat", "first lease runs out"],
      workers.map(function (w) {
        return [w.workerId, w.queue, w.running, claimRate(w, now), time(w.lastSeenAt), time(w.nextExpiryAt)];
      }), "no worker holds a lease");
  }

  pages.queues = {
    load: function () {
      var q = new URLSearchParams(location.search);
      var params = new URLSearchParams();
      ["queue", "status", "after"].forEach(function (k) { if (q.get(k)) params.set(k, q.get(k)); });
      return api("/api/queues?" + params.toString()).then(function (d) { return { data: d, query: q }; });
    },
    render: function (r) {
      var d = r.data, q = r.query;
      var status = q.get("status") || "dead";
      var title = status + " jobs" + (q.get("queue") ? " in " + q.get("queue") : "");
      var nav = el("div", { class: "filters" }, ["dead", "waiting", "running"].map(function (s) {
        var p = new URLSearchParams();
        if (q.get("queue")) p.set("queue", q.get("queue"));
        p.set("status", s);
        return link("/queues?" + p.toString(), s);
      }), q.get("queue") ? link("/queues?status=" + status, "all queues") : null,
        d.nextAfter ? link("/queues?" + (function () {
          var p = new URLSearchParams(location.search);
          p.set("after", d.nextAfter);
          return p.toString();
        })(), "next page \u2192") : null);
      var queue = q.get("queue");
      var bulk = queue && status === "dead" && !READ_ONLY && d.jobs.length ? el("div", { class: "filters" },
        ["retry", "delete"].map(function (action) {
          var button = el("button", { type: "button", class: action + "-all", onclick: function () {
            deadJobs("/api/queues/" + encodeURIComponent(queue) + "/dead/" + action,
              "Do this to every dead job of " + queue + ": " + action + "?", button);
          } }, action === "retry" ? "Retry all dead" : "Delete all dead");
          return button;
        })) : null;
      return [el("h1", null, "Queues"), queueTable(d.stats, true),
        section("Workers", workerTable(d.workers || [])),
        section("Schedules", scheduleTable(d.schedules || [])),
        section(title, [nav, bulk, jobTable(d.jobs, true)])];
    },
  };
`;
