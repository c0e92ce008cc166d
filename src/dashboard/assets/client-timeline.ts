/**
 * The run page's timeline (client.ts puts it in its closure, beside el(), badge() and duration()): a
 * waterfall of the run, its tasks, jobs and child runs (with their tasks, indented) as bars over time,
 * and lanes of instants (steps, timers, and the history's events by type) as ticks. Positions are set
 * through the CSSOM (node.style), which the dashboard's Content-Security-Policy allows; every label
 * and title is a text node or an attribute, never HTML. The page's refresh redraws it while the run goes on.
 */
export const TIMELINE_JS = `  function timelineView(t) {
    if (!t) return null;
    var span = Math.max(1, t.to - t.from);
    function pct(at) { return Math.max(0, Math.min(100, ((at - t.from) * 100) / span)); }
    function place(node, from, to) {
      node.style.left = pct(from) + "%";
      if (to !== undefined) node.style.width = Math.max(0.3, pct(to) - pct(from)) + "%";
      return node;
    }
    function row(label, depth, track, cls) {
      var name = el("div", { class: "tl-label", title: label }, label);
      name.style.paddingLeft = (0.4 + depth * 1.1) + "em";
      return el("div", { class: "tl-row" + (cls ? " " + cls : "") }, name, el("div", { class: "tl-track" }, track));
    }
    var axis = el("div", { class: "tl-track tl-axis" }, [0, 0.25, 0.5, 0.75, 1].map(function (f) {
      var tick = el("span", null, "+" + duration(Math.round(span * f)));
      tick.style.left = (f * 100) + "%";
      if (f === 1) tick.className = "end";
      return tick;
    }));
    var rows = t.bars.map(function (b) {
      var end = b.end === null ? t.to : b.end;
      var title = b.label + ": " + b.status + ", " + duration(end - b.start) + (b.end === null ? " so far" : "");
      var bar = place(el("div", { class: "tl-bar s-" + String(b.status).replace(/[^a-z_]/g, "") +
        (b.end === null ? " tl-open" : ""), title: title }), b.start, end);
      var label = b.kind === "child" ? executionLink(b.id, "child: " + b.label) : b.label;
      return row(label, b.depth, bar, "tl-" + b.kind);
    });
    var lanes = t.lanes.map(function (lane) {
      return row(lane.label, 1, lane.marks.map(function (m) {
        return place(el("i", { class: "tl-mark tl-" + lane.kind, title: m[1] + " at " + new Date(m[0]).toLocaleTimeString() }), m[0]);
      }), "tl-lane");
    });
    return el("div", { class: "timeline" },
      el("div", { class: "tl-row tl-head" }, el("div", { class: "tl-label" }, new Date(t.from).toLocaleString()), axis),
      rows, lanes,
      t.eventsTruncated ? el("p", { class: "muted" }, "only the first events of the history are shown") : null);
  }
`;
