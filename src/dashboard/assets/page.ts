/**
 * The HTML the server sends: one shell for every page (the script fills <main> from /api) and the
 * login form. Every value put into this HTML goes through escapeHtml.
 */

export type PageName = "overview" | "executions" | "execution" | "queues" | "threads" | "agents" | "mastra";

export function escapeHtml(value: unknown): string {
  return String(value).replace(
    /[&<>"'`]/g,
    (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" })[c] as string,
  );
}

function layout(title: string, head: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
${head}<title>${escapeHtml(title)} · flowstore</title>
<link rel="stylesheet" href="/assets/app.css">
</head>
${body}
</html>
`;
}

const TITLES: Record<PageName, string> = {
  overview: "Overview",
  executions: "Executions",
  execution: "Execution",
  queues: "Queues",
  threads: "LangGraph threads",
  agents: "Agents",
  mastra: "Mastra runs",
};

/** What the pages may offer: no actions on a read-only store; Replay where the engine replays runs. */
export interface PageOptions {
  readOnly?: boolean;
  replays?: boolean;
}

export function shellPage(
  page: PageName,
  csrfToken: string,
  where: string,
  { readOnly = false, replays = false }: PageOptions = {},
): string {
  return layout(
    TITLES[page],
    `<meta name="flowstore-csrf" content="${escapeHtml(csrfToken)}">
<script src="/assets/app.js" defer></script>
`,
    `<body data-page="${escapeHtml(page)}"${readOnly ? ' data-read-only="true"' : ""}${replays ? ' data-replays="true"' : ""}>
<header><nav>
<a class="brand" href="/">flowstore</a>
<a href="/">Overview</a>
<a href="/executions">Executions</a>
<a href="/queues">Queues</a>
<a href="/threads">Threads</a>
<a href="/agents">Agents</a>
<a href="/mastra">Mastra</a>
<span class="where">${escapeHtml(where)}</span>
${readOnly ? '<span class="read-only" title="opened with readOnly: actions are off">read-only</span>\n' : ""}
<span id="live" class="live"></span>
</nav></header>
<main id="main"><p class="muted">Loading…</p></main>
</body>`,
  );
}

export function loginPage(error?: string): string {
  return layout(
    "Sign in",
    "",
    `<body>
<form class="login" method="post" action="/login">
<h1>flowstore dashboard</h1>
<p>This dashboard needs its access token (the <code>--token</code> it was started with, or
<code>FLOWSTORE_DASHBOARD_TOKEN</code>).</p>
${error ? `<p class="error">${escapeHtml(error)}</p>` : ""}
<input type="password" name="token" autocomplete="current-password" placeholder="token" required autofocus>
<button type="submit">Sign in</button>
</form>
</body>`,
  );
}

export function messagePage(title: string, message: string): string {
  return layout(
    title,
    "",
    `<body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></main></body>`,
  );
}
