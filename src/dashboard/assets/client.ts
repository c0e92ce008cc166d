/**
 * The dashboard's one script, served as /assets/app.js. Plain browser JavaScript, no build step.
 * Every stored value reaches the page as a text node (el() and text() below): nothing built from data
 * is ever parsed as HTML, so a workflow named <script>...</script> shows as those characters.
 * Links are built from ids with encodeURIComponent, never from stored text.
 */

import { AGENTS_JS } from "./client-agents.js";
import { MASTRA_JS } from "./client-mastra.js";
import { QUEUES_JS } from "./client-queues.js";
import { RUN_JS } from "./client-run.js";
import { RUN_ACTIONS_JS } from "./client-run-actions.js";
import { RUN_RECORD_JS } from "./client-run-record.js";
import { THREADS_JS } from "./client-threads.js";
import { TIMELINE_JS } from "./client-timeline.js";

export const CLIENT_JS = String.raw`"use strict";
(function () {
  var REFRESH_MS = 2000;
  var csrfMeta = document.querySelector('meta[name="flowstore-csrf"]');
  var CSRF = csrfMeta ? csrfMeta.getAttribute("content") : "";
  // A read-only store (flowstore serve --read-only): no action buttons, since the server refuses them.
  var READ_ONLY = document.body.getAttribute("data-read-only") === "true";
  // The engine behind this dashboard can run a failed run again.
  var REPLAYS = document.body.getAttribute("data-replays") === "true";
  var main = document.getElementById("main");
  var live = document.getElementById("live");
  var STATUSES = ["pending", "running", "waiting", "completed", "failed", "cancelled", "timed_out"];
  var timer = null;
  var generation = 0;

  // ---- DOM building: text only ----
  function text(value) {
    return document.createTextNode(value === null || value === undefined ? "" : String(value));
  }
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var v = attrs[name];
        if (v === null || v === undefined || v === false) return;
        if (name === "class") node.className = v;
        else if (name === "onclick") node.addEventListener("click", v);
        else if (name === "onchange") node.addEventListener("change", v);
        else if (name === "onsubmit") node.addEventListener("submit", v);
        else node.setAttribute(name, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(node, c); });
    else if (typeof child === "object" && child.nodeType) node.appendChild(child);
    else node.appendChild(text(child));
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }
  // A count that is an estimate (more rows than are counted one by one) reads ~n.
  function about(n, rough) { return (rough ? "~" : "") + n; }
  function link(path, label) {
    return el("a", { href: path }, label);
  }
  function executionLink(id, label) {
    return link("/executions/" + encodeURIComponent(id), label || short(id));
  }
  function short(id) {
    return id ? String(id).slice(0, 8) + "\u2026" + String(id).slice(-4) : "-";
  }
  function badge(status) {
    return el("span", { class: "badge s-" + String(status).replace(/[^a-z_]/g, "") }, status);
  }
  function time(iso) {
    if (!iso) return "-";
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }
  function duration(ms) {
    if (ms === null || ms === undefined) return "-";
    if (ms < 1000) return ms + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
    if (ms < 3600000) return (ms / 60000).toFixed(1) + " min";
    return (ms / 3600000).toFixed(1) + " h";
  }
  function json(value) {
    if (value === null || value === undefined) return el("span", { class: "muted" }, "null");
    var s = JSON.stringify(value, null, 2);
    if (s.length > 100000) s = s.slice(0, 100000) + "\n\u2026 (truncated)";
    return el("pre", null, s);
  }
  function table(headers, rows, empty) {
    if (!rows.length) return el("p", { class: "muted" }, empty || "none");
    return el("table", null,
      el("thead", null, el("tr", null, headers.map(function (h) { return el("th", null, h); }))),
      el("tbody", null, rows.map(function (cells) {
        return el("tr", null, cells.map(function (c) { return el("td", null, c); }));
      })));
  }
  function section(title, body) {
    return el("section", null, el("h2", null, title), body);
  }
  function definitionLabel(d) {
    return d ? d.name + (d.version == null ? "" : " v" + d.version) : "-";
  }

  // ---- talking to /api ----
  function api(path, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    if (options.method === "POST") headers["X-CSRF-Token"] = CSRF;
    return fetch(path, { method: options.method || "GET", headers: headers, credentials: "same-origin" })
      .then(function (res) {
        if (res.status === 401) {
          location.href = "/login";
          throw new Error("login needed");
        }
        return res.json().then(function (body) {
          if (!res.ok) throw new Error((body && body.error) || res.statusText);
          return body;
        });
      });
  }
  function setLive(ok, message) {
    if (!live) return;
    live.className = ok ? "live ok" : "live err";
    live.textContent = message;
  }

  // ---- pages: each has load(): Promise<data> and render(data) ----
  var pages = {};

  pages.overview = {
    load: function () { return api("/api/overview"); },
    render: function (d) {
      var counts = d.executions || {};
      var estimated = d.estimated || [];
      // An estimate (more runs of a status than are counted one by one) reads "~".
      var total = STATUSES.reduce(function (s, k) { return s + (counts[k] || 0); }, 0);
      return [
        el("h1", null, "Overview"),
        el("div", { class: "cards" },
          el("a", { class: "card", href: "/executions" }, el("b", null, about(total, estimated.length > 0)),
            el("span", null, "executions")),
          STATUSES.map(function (s) {
            return el("a", { class: "card", href: "/executions?status=" + s },
              el("b", null, about(counts[s] || 0, estimated.indexOf(s) >= 0)), badge(s));
          }),
          el("a", { class: "card", href: "/queues" }, el("b", null, d.depth), el("span", null, "jobs queued"))),
        section("Throughput and queue depth", chart(d.series || [], d.sampleIntervalMs)),
        section("Queues", queueTable(d.queues || [])),
        section("Timers due in the next 5 minutes", timerTable(d.timersDueSoon || [])),
        el("p", { class: "muted" }, "Store: ", d.store, " \u00b7 schema ", d.schema,
          " \u00b7 sampled ", time(d.sampledAt)),
      ];
    },
  };

  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function chart(series, intervalMs) {
    var W = 720, H = 180, P = 30;
    var box = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img" });
    if (series.length < 2) {
      box.appendChild(svg("text", { x: P, y: H / 2, class: "axis" }, "collecting samples\u2026"));
      return box;
    }
    var t0 = series[0].at, t1 = series[series.length - 1].at;
    function line(key, cls) {
      var max = Math.max(1, Math.max.apply(null, series.map(function (s) { return s[key]; })));
      var points = series.map(function (s) {
        var x = P + ((s.at - t0) / Math.max(1, t1 - t0)) * (W - 2 * P);
        var y = H - P - (s[key] / max) * (H - 2 * P);
        return x.toFixed(1) + "," + y.toFixed(1);
      }).join(" ");
      return { node: svg("polyline", { points: points, class: cls }), max: max };
    }
    var depth = line("depth", "l-depth");
    var rate = line("finishedPerMinute", "l-rate");
    box.appendChild(svg("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, class: "grid" }));
    box.appendChild(depth.node);
    box.appendChild(rate.node);
    box.appendChild(svg("text", { x: P, y: 14, class: "axis t-depth" }, "queue depth (max " + depth.max + ")"));
    box.appendChild(svg("text", { x: W / 2, y: 14, class: "axis t-rate" },
      "executions finished / min (max " + rate.max.toFixed(1) + ")"));
    box.appendChild(svg("text", { x: P, y: H - 8, class: "axis" }, new Date(t0).toLocaleTimeString()));
    box.appendChild(svg("text", { x: W - P, y: H - 8, class: "axis end" }, new Date(t1).toLocaleTimeString()));
    return box;
  }
  function timerTable(timers) {
    return table(["name", "execution", "fires", "queue"], timers.map(function (t) {
      return [t.name, t.executionId ? executionLink(t.executionId) : "-", time(t.fireAt), t.queue];
    }), "no timers");
  }

  pages.executions = {
    filters: null,
    load: function () {
      var q = new URLSearchParams(location.search);
      var params = new URLSearchParams();
      ["status", "definition", "from", "to", "meta", "cursor"].forEach(function (k) {
        if (q.get(k)) params.set(k, q.get(k));
      });
      var self = this;
      var names = self.names ? Promise.resolve(self.names) : api("/api/definitions").then(function (n) {
        self.names = n.names;
        return n.names;
      });
      return Promise.all([api("/api/executions?" + params.toString()), names]).then(function (r) {
        return { page: r[0], names: r[1], query: q };
      });
    },
    render: function (d) {
      var q = d.query;
      function go(changes) {
        var next = new URLSearchParams(location.search);
        Object.keys(changes).forEach(function (k) {
          if (changes[k]) next.set(k, changes[k]); else next.delete(k);
        });
        history.pushState(null, "", "/executions" + (next.toString() ? "?" + next.toString() : ""));
        refresh();
      }
      var status = el("select", { name: "status", onchange: function () {
        go({ status: status.value, cursor: "", back: "" });
      } }, el("option", { value: "" }, "any status"), STATUSES.map(function (s) {
        return el("option", { value: s, selected: q.get("status") === s }, s);
      }));
      var definition = el("select", { name: "definition", onchange: function () {
        go({ definition: definition.value, cursor: "", back: "" });
      } }, el("option", { value: "" }, "any workflow"), d.names.map(function (n) {
        return el("option", { value: n, selected: q.get("definition") === n }, n);
      }));
      // Created from / to: the inputs show local time, the query holds ISO instants.
      function when(name, label) {
        var value = q.get(name) ? new Date(q.get(name)) : null;
        var local = value ? new Date(value.getTime() - value.getTimezoneOffset() * 60000).toISOString().slice(0, 16) : "";
        var input = el("input", { type: "datetime-local", name: name, title: label, value: local, onchange: function () {
          var change = {};
          change[name] = input.value ? new Date(input.value).toISOString() : "";
          change.cursor = "";
          change.back = "";
          go(change);
        } });
        return el("label", null, label + " ", input);
      }
      var meta = el("input", { type: "search", name: "meta", placeholder: "metadata key=value", value: q.get("meta") || "",
        onchange: function () { go({ meta: meta.value, cursor: "", back: "" }); } });
      // Keyset paging: "back" keeps the cursors of the pages before, newest last.
      var back = q.get("back") ? q.get("back").split(".") : [];
      var prev = el("button", { type: "button", disabled: !q.get("cursor"), onclick: function () {
        var cursors = back.slice();
        var cursor = cursors.pop() || "";
        go({ cursor: cursor === "_" ? "" : cursor, back: cursors.join(".") });
      } }, "\u2190 newer");
      var next = el("button", { type: "button", disabled: !d.page.nextCursor, onclick: function () {
        go({ cursor: d.page.nextCursor, back: back.concat([q.get("cursor") || "_"]).join(".") });
      } }, "older \u2192");
      return [
        el("h1", null, "Executions"),
        el("div", { class: "filters" }, status, definition, when("from", "created from"), when("to", "to"), meta, prev,
          next),
        table(["id", "workflow", "status", "created", "duration", "parent", "origin"], d.page.items.map(function (e) {
          return [executionLink(e.id), definitionLabel(e.definition), badge(e.status), time(e.createdAt),
            duration(e.durationMs), e.parentExecutionId ? executionLink(e.parentExecutionId) : "-", originCell(e)];
        }), "no executions match"),
      ];
    },
  };

${RUN_JS}
${RUN_RECORD_JS}
${QUEUES_JS}
${TIMELINE_JS}
${RUN_ACTIONS_JS}
${THREADS_JS}
${AGENTS_JS}
${MASTRA_JS}

  // ---- live refresh ----
  function refresh() {
    var page = pages[document.body.getAttribute("data-page")];
    if (!page || !main) return;
    clearTimeout(timer);
    var mine = ++generation;
    page.load().then(function (data) {
      if (mine !== generation) return;
      // Do not pull a drop-down out from under the user; the next round renders.
      var focused = document.activeElement;
      if (focused && focused.tagName === "SELECT" && main.contains(focused)) return;
      // What the reader opened stays open: details are keyed by what they show.
      var open = {};
      main.querySelectorAll("details[data-keep][open]").forEach(function (d) {
        open[d.getAttribute("data-keep")] = true;
      });
      var nodes = page.render(data);
      clear(main);
      append(main, nodes);
      main.querySelectorAll("details[data-keep]").forEach(function (d) {
        if (open[d.getAttribute("data-keep")]) d.open = true;
      });
      setLive(true, "live \u00b7 " + new Date().toLocaleTimeString());
    }).catch(function (err) {
      if (mine !== generation) return;
      setLive(false, "not updated: " + err.message);
    }).then(function () {
      // A hidden tab stops polling; becoming visible again refreshes at once.
      if (mine === generation) timer = setTimeout(function () { if (!document.hidden) refresh(); }, REFRESH_MS);
    });
  }
  window.addEventListener("popstate", refresh);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  refresh();
})();
`;
