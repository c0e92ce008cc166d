/** The dashboard's stylesheet, served as /assets/app.css. */
export const STYLE_CSS = `
:root { --fg: #1d2330; --muted: #6b7280; --line: #e3e6ec; --bg: #f7f8fa; --accent: #2f6fde; --bad: #c93c37; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { background: #1d2330; color: #fff; }
header nav { display: flex; gap: 1.25em; align-items: center; max-width: 1200px; margin: 0 auto; padding: 0.7em 1em; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
header .brand { font-weight: 800; letter-spacing: 0.02em; }
header .where { color: #aab2c0; font-size: 12px; margin-left: auto; }
header .read-only { font-size: 12px; padding: 0 0.5em; border-radius: 999px; background: #eee6d8; color: #7a5b22; }
main { max-width: 1200px; margin: 0 auto; padding: 1em; }
h1 { font-size: 20px; margin: 0.4em 0 0.8em; display: flex; gap: 0.5em; align-items: center; }
h2 { font-size: 15px; margin: 1.6em 0 0.5em; }
h3 { font-size: 12px; margin: 0.6em 0 0.2em; color: var(--muted); }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: 0.35em 0.6em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef0f4; font-weight: 600; font-size: 12px; }
td { overflow-wrap: anywhere; }
pre { margin: 0; padding: 0.5em; background: #fff; border: 1px solid var(--line); max-height: 24em; overflow: auto; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
td pre { max-height: 12em; }
.muted { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 0.6em; }
.card { display: flex; flex-direction: column; gap: 0.2em; min-width: 8em; padding: 0.6em 0.8em; background: #fff; border: 1px solid var(--line); border-radius: 6px; color: inherit; text-decoration: none; }
.card b { font-size: 22px; }
.badge { display: inline-block; padding: 0 0.5em; border-radius: 999px; font-size: 12px; background: #e5e7eb; }
.s-running, .s-waiting { background: #dbe8ff; color: #1c4fb3; }
.s-pending { background: #f1f1f1; }
.s-completed { background: #dcf3e2; color: #17703a; }
.s-failed, .s-dead, .s-timed_out { background: #fbe0df; color: var(--bad); }
.s-cancelled { background: #eee6d8; color: #7a5b22; }
.filters { display: flex; gap: 0.6em; align-items: center; margin-bottom: 0.8em; flex-wrap: wrap; }
select, button { font: inherit; padding: 0.25em 0.6em; }
button.retry { color: #fff; background: var(--accent); border: 0; border-radius: 4px; cursor: pointer; }
button:disabled { opacity: 0.5; cursor: default; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; background: #fff; border: 1px solid var(--line); padding: 0.6em; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.tree td.task { white-space: nowrap; font-weight: 600; }
svg.chart { width: 100%; max-width: 900px; height: auto; background: #fff; border: 1px solid var(--line); }
svg.chart polyline { fill: none; stroke-width: 2; }
svg.chart .l-depth { stroke: var(--accent); }
svg.chart .l-rate { stroke: #17a34a; }
svg.chart .grid { stroke: var(--line); }
svg.chart .axis { font-size: 11px; fill: var(--muted); }
svg.chart .t-depth { fill: var(--accent); }
svg.chart .t-rate { fill: #17a34a; }
svg.chart .end { text-anchor: end; }
.timeline { background: #fff; border: 1px solid var(--line); padding: 0.4em 0; font-size: 12px; }
.tl-row { display: grid; grid-template-columns: minmax(10em, 24%) 1fr; align-items: center; min-height: 1.6em; }
.tl-row:hover { background: #f3f5f9; }
.tl-label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; padding-right: 0.6em; }
.tl-track { position: relative; height: 1.2em; margin-right: 1.2em; }
.tl-axis span { position: absolute; color: var(--muted); transform: translateX(-50%); white-space: nowrap; }
.tl-axis span.end { transform: translateX(-100%); }
.tl-head { border-bottom: 1px solid var(--line); margin-bottom: 0.2em; }
.tl-bar { position: absolute; top: 0.2em; height: 0.8em; border-radius: 3px; min-width: 2px; }
.tl-bar { background: #9aa3b2; }
.tl-bar.s-completed { background: #3fb26b; }
.tl-bar.s-running, .tl-bar.s-waiting { background: #4f86e8; }
.tl-bar.s-failed, .tl-bar.s-dead, .tl-bar.s-timed_out { background: #d9534f; }
.tl-bar.s-cancelled { background: #b89a5e; }
.tl-bar.tl-open { background-image: linear-gradient(90deg, transparent 70%, rgba(255,255,255,0.6)); }
.tl-run .tl-label, .tl-child .tl-label { font-weight: 600; }
.tl-mark { position: absolute; top: 0.1em; width: 2px; height: 1em; background: var(--accent); opacity: 0.7; }
.tl-mark.tl-step { background: #17a34a; width: 3px; }
.tl-mark.tl-timer { background: #b7791f; width: 3px; }
.tl-mark.tl-rewind { background: #c05621; width: 3px; height: 1.2em; top: 0; opacity: 1; }
p.origin { margin: 0 0 0.6em; padding: 0.45em 0.7em; border-radius: 4px; background: #eef3fd; border: 1px solid #c9d8f5; }
p.origin.rewind { background: #fdf3ea; border-color: #f0d2b5; }
tr.copied td { background: #f7f8fa; color: var(--muted); }
table.steps td:first-child { font-weight: 600; white-space: nowrap; }
.open-value { white-space: nowrap; }
details summary { cursor: pointer; font-family: ui-monospace, monospace; font-size: 12px; overflow-wrap: anywhere; }
.live { font-size: 12px; }
.live.ok { color: #8fd19e; }
.live.err { color: #ffb4b0; }
form.login { max-width: 24em; margin: 4em auto; background: #fff; border: 1px solid var(--line); padding: 1.5em; display: flex; flex-direction: column; gap: 0.8em; }
form.login input { font: inherit; padding: 0.4em; }
.error { color: var(--bad); }
ul.plain { margin: 0; padding-left: 1.1em; }
`;
