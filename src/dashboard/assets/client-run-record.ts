/**
 * What a run recorded, on its page (client-run.ts calls these inside the script's closure): where it
 * came from (a fork's source and step, its last rewind), its steps, its latest events and its forks.
 * A value that the API left out (offloaded to the blob store, bytes, or big) is a link that opens it
 * whole from /api, in a tab of its own, only when clicked. Text nodes only, as everywhere.
 */
export const RUN_RECORD_JS = String.raw`  function size(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return (bytes / 1024).toFixed(1) + " KiB";
    return (bytes / 1048576).toFixed(1) + " MiB";
  }
  // A value inline, behind its first characters; or a link that opens it when the API left it out.
  function valueCell(present, value, ref, href, key, label) {
    if (ref) {
      var what = (ref.offloaded ? "offloaded, " : "") + (ref.kind === "bytes" ? "bytes, " : "JSON, ") + size(ref.bytes);
      return el("a", { class: "open-value", href: href, target: "_blank", rel: "noopener" }, "open (" + what + ")");
    }
    if (!present) return el("span", { class: "muted" }, "-");
    var text = label || JSON.stringify(value);
    return el("details", { "data-keep": key }, el("summary", null, text.length > 60 ? text.slice(0, 59) + "\u2026" : text), json(value));
  }
  // An Error as the store keeps it (name, message, stack) reads as its name and message.
  function errorLabel(error) {
    return error && typeof error === "object" && typeof error.message === "string"
      ? (typeof error.name === "string" ? error.name : "Error") + ": " + error.message : null;
  }
  function runPath(id) { return "/api/executions/" + encodeURIComponent(id); }

  function originView(o) {
    if (!o) return null;
    var lines = [];
    if (o.fork) {
      lines.push(el("p", { class: "origin fork" }, "fork of ",
        executionLink(o.fork.of, (o.fork.source ? o.fork.source.name + " " : "") + short(o.fork.of)),
        o.fork.source ? [" ", badge(o.fork.source.status)] : " (no longer in the store)",
        " at step " + o.fork.step + ", " + time(o.fork.at)));
    }
    if (o.rewind) {
      lines.push(el("p", { class: "origin rewind" }, "rewound to step " + o.rewind.toStep + " at version " +
        o.rewind.version + ", " + time(o.rewind.at)));
    }
    return lines;
  }

  function stepsTable(id, steps, truncated) {
    if (!steps.length) return el("p", { class: "muted" }, "no steps recorded");
    return [el("table", { class: "steps" },
      el("thead", null, el("tr", null, ["step", "name", "attempts", "duration", "recorded", "output or error"]
        .map(function (h) { return el("th", null, h); }))),
      el("tbody", null, steps.map(function (s) {
        var outcome = s.error !== null
          ? el("div", { class: "error" }, valueCell(true, s.error, null, null, "error " + s.number, errorLabel(s.error)))
          : valueCell("output" in s, s.output, s.outputRef, runPath(id) + "/steps/" + s.number + "/output", "step " + s.number);
        return el("tr", { class: s.copied ? "copied" : null },
          el("td", null, s.number), el("td", null, s.name, s.copied ? el("span", { class: "muted" }, " (forked from the source)") : null),
          el("td", null, s.attempts === null ? "-" : s.attempts), el("td", null, duration(s.durationMs)), el("td", null, time(s.createdAt)), el("td", null, outcome));
      }))),
      truncated ? el("p", { class: "muted" }, "only the first steps are shown") : null];
  }

  function eventsTable(id, events, earlier) {
    var rows = table(["#", "type", "correlation", "at", "payload"], events.map(function (v) {
      return [v.sequence, [v.type, v.copied ? el("span", { class: "muted" }, " (forked from the source)") : null],
        v.correlationId || "-", time(v.createdAt),
        valueCell("payload" in v, v.payload, v.payloadRef, runPath(id) + "/events/" + v.sequence + "/payload",
          "event " + v.sequence)];
    }), "no events");
    return [earlier ? el("p", { class: "muted" }, "the latest " + events.length + " events; the timeline has more") : null, rows];
  }

  // The runs list's marker: a fork names its source and step; a rewound run its step.
  function originCell(e) {
    if (e.forkOf) {
      return el("span", { class: "fork-mark" }, "fork of ", executionLink(e.forkOf), " at step " + e.forkStep);
    }
    return e.rewoundToStep !== null && e.rewoundToStep !== undefined ? "rewound to step " + e.rewoundToStep : "-";
  }

  function forksTable(forks) {
    return table(["id", "status", "from step", "created"], forks.map(function (f) {
      return [executionLink(f.id), badge(f.status), f.forkStep, time(f.createdAt)];
    }), "no forks");
  }
`;
