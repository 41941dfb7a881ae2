import { escapeHtml } from '../core/util/html';
import type { DashboardConfig } from '../dashboard/protocol';

/** The dashboard's page, shared by the VS Code webview and `sandbox dashboard`. */
export interface DashboardPageOptions {
  /** URLs of dist/dashboard.js and dist/dashboard.css as the page may load them. */
  scriptUri: string;
  styleUri: string;
  /** Where the page's own resources come from: a webview's cspSource, or 'self'. */
  cspSource: string;
  /** connect-src: 'self' for the server's updates; none in a webview. */
  connectSources?: string[];
  /** A fresh random value per page load. */
  nonce: string;
  config: DashboardConfig;
}

/**
 * Strict CSP: no inline script but the nonce'd one, no eval, no remote source; images (the
 * desktops' thumbnails) from the page's own origin or data:.
 */
export function dashboardCsp(options: Pick<DashboardPageOptions, 'cspSource' | 'connectSources' | 'nonce'>): string {
  const connect = options.connectSources?.length ? options.connectSources.join(' ') : "'none'";
  return [
    "default-src 'none'",
    `script-src 'nonce-${options.nonce}'`,
    `style-src ${options.cspSource}`,
    `img-src ${options.cspSource} data:`,
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export function dashboardPage(options: DashboardPageOptions): string {
  // JSON inside a non-executed script element: "<" escaped so no text can close the element.
  const config = JSON.stringify(options.config).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(dashboardCsp(options))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandboxes dashboard</title>
<link rel="stylesheet" href="${escapeHtml(options.styleUri)}">
</head>
<body>
<header class="top">
  <h1>Sandboxes</h1>
  <span id="status" role="status" aria-live="polite">Connecting…</span>
  <span class="spacer"></span>
  <span id="cost" title="The month's cost of cloud sandboxes against the budget (as sandbox cost reads it)"><span id="cost-text">Cost: not known yet</span><span class="cost-track"><span id="cost-bar"></span></span></span>
</header>
<main>
  <ul id="problems" hidden></ul>
  <h2>Running sandboxes</h2>
  <p id="no-sandboxes" class="empty">No sandbox runs.</p>
  <section id="cards"></section>
  <h2>Tasks</h2>
  <section id="tasks"></section>
  <h2>Events <span id="feed-count" class="empty"></span></h2>
  <div class="filters">
    <input id="filter-type" type="search" placeholder="type, e.g. task." aria-label="Events whose type starts with">
    <select id="filter-sandbox" aria-label="Events of the sandbox"><option value="">every sandbox</option></select>
    <input id="filter-text" type="search" placeholder="text" aria-label="Events with this text">
  </div>
  <table id="events"><tbody id="events-body"></tbody></table>
</main>
<script type="application/json" id="dashboard-config">${config}</script>
<script nonce="${options.nonce}" src="${escapeHtml(options.scriptUri)}"></script>
</body>
</html>
`;
}
