import { escapeHtml } from '../util/html';

/** The desktop viewer's page, shared by the VS Code webview and `sandbox desktop`. */

export interface ViewerPageOptions {
  /** URLs of dist/viewer.js and media/viewer.css as the page may load them. */
  scriptUri: string;
  styleUri: string;
  /** Where the page's own resources come from: a webview's cspSource, or 'self'. */
  cspSource: string;
  /** Extra connect-src entries (the WebSocket of `sandbox desktop`); none in a webview. */
  connectSources?: string[];
  /** A fresh random value per page load. */
  nonce: string;
  config: { transport: 'vscode' | 'websocket'; sandbox: string; viewOnly: boolean; websocketPath?: string };
}

/**
 * Strict CSP: no inline script but the nonce'd module, no eval, no remote source; images
 * only from the page itself, data: and blob: (noVNC draws its cursor through them).
 */
export function viewerCsp(options: Pick<ViewerPageOptions, 'cspSource' | 'connectSources' | 'nonce'>): string {
  const connect = options.connectSources?.length ? options.connectSources.join(' ') : "'none'";
  return [
    "default-src 'none'",
    `script-src 'nonce-${options.nonce}'`,
    `style-src ${options.cspSource}`,
    `img-src ${options.cspSource} data: blob:`,
    `font-src ${options.cspSource}`,
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export function viewerPage(options: ViewerPageOptions): string {
  // JSON inside a non-executed script element: "<" escaped so no text can close the element.
  const config = JSON.stringify(options.config).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(viewerCsp(options))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.config.sandbox)}: desktop</title>
<link rel="stylesheet" href="${escapeHtml(options.styleUri)}">
</head>
<body data-state="connecting">
<header class="toolbar">
  <span id="sandbox-name" class="name">${escapeHtml(options.config.sandbox)}</span>
  <select id="switcher" title="Show another sandbox's desktop" hidden></select>
  <span id="status" class="status" role="status" aria-live="polite">Connecting…</span>
  <span class="spacer"></span>
  <button id="view-only" type="button" aria-pressed="${options.config.viewOnly}" title="Watch without sending keys or pointer to the desktop">View only</button>
  <button id="ctrl-alt-del" type="button" title="Send Ctrl+Alt+Del">Ctrl+Alt+Del</button>
  <button id="screenshot" type="button" title="Save a PNG of the desktop">Screenshot</button>
</header>
<main id="screen" class="screen"></main>
<script type="application/json" id="viewer-config">${config}</script>
<script type="module" nonce="${options.nonce}" src="${escapeHtml(options.scriptUri)}"></script>
</body>
</html>
`;
}
