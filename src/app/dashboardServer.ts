import { randomBytes } from 'node:crypto';
import type * as http from 'node:http';
import type { DesktopSandboxes } from '../core/desktop';
import { serveDesktop, type DesktopServer } from '../core/desktop/server';
import { SandboxError, describeError } from '../core/errors';
import type { SandboxRecord } from '../core/model';
import { findPackagedFiles } from '../core/util/packagedFiles';
import { COMMON_HEADERS, sendFile, sendStatus, serveBehindOneTimeLink } from '../core/util/oneTimeLinkServer';
import { DashboardFeed } from './dashboardFeed';
import { dashboardPage } from './dashboardPage';

const COOKIE = 'sandbox_dashboard';

export interface DashboardServer {
  /** Open this once: it carries the one-time token. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface DashboardSandboxes extends DesktopSandboxes {
  list(): Promise<SandboxRecord[]>;
}

/** dist/dashboard.js and dist/dashboard.css, found above this module (bundle, compiled tests, installed extension). */
export function findDashboardAssets(start: string = __dirname): { script: string; style: string } {
  const found = findPackagedFiles(['dist/dashboard.js', 'dist/dashboard.css'], start);
  if (!found) throw new SandboxError('invalid-input', 'The dashboard page (dist/dashboard.js) is missing; run `npm run build` or reinstall Agent Sandboxes.');
  return { script: found[0]!, style: found[1]! };
}

/**
 * `sandbox dashboard`: the dashboard page on 127.0.0.1 behind a one-time link and its cookie,
 * as `sandbox desktop` serves its viewer. The page gets a snapshot and then deltas as
 * server-sent events (/updates), the desktops' thumbnails from /thumbnail/ID, and a click on a
 * thumbnail starts that desktop's own `sandbox desktop` server, or a new one-time link to the one
 * started before (one per sandbox), and goes there (/desktop/ID).
 */
export async function serveDashboard(
  sandboxes: DashboardSandboxes,
  options: { stateRoot: string; port?: number; log?: (line: string) => void; pollMs?: number },
): Promise<DashboardServer> {
  const assets = findDashboardAssets();
  const feed = new DashboardFeed({
    stateRoot: options.stateRoot,
    records: () => sandboxes.list(),
    desktops: sandboxes,
    thumbnailUrl: (id, version) => `/thumbnail/${encodeURIComponent(id)}?v=${version}`,
    log: options.log,
    pollMs: options.pollMs,
  });
  const streams = new Set<http.ServerResponse>();
  /** The viewer of each sandbox, by sandbox id: one each however often its thumbnail is clicked. */
  const desktops = new Map<string, Promise<DesktopServer>>();

  /** The sandbox's viewer, started on its first click; its next clicks get a new link to it. */
  async function desktopLink(ref: string): Promise<string> {
    const { id } = await sandboxes.status(ref);
    const running = desktops.get(id);
    if (running) return (await running).newLink();
    const starting = serveDesktop(sandboxes, id);
    desktops.set(id, starting);
    void starting.catch(() => desktops.delete(id));
    return (await starting).url;
  }

  const served = await serveBehindOneTimeLink({
    port: options.port,
    cookie: COOKIE,
    refusal: 'This page needs the one-time link `sandbox dashboard` printed, which works once; for another browser or tab run `sandbox dashboard` again.',
    async handle(request, response, url) {
      const path = url.pathname;
      if (path === '/') {
        const nonce = randomBytes(16).toString('base64');
        response.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'text/html; charset=utf-8' });
        response.end(
          dashboardPage({
            scriptUri: '/dashboard.js',
            styleUri: '/dashboard.css',
            cspSource: "'self'",
            connectSources: ["'self'"],
            nonce,
            config: { transport: 'events' },
          }),
        );
        return;
      }
      if (path === '/dashboard.js') return sendFile(response, assets.script, 'text/javascript; charset=utf-8');
      if (path === '/dashboard.css') return sendFile(response, assets.style, 'text/css; charset=utf-8');
      if (path === '/updates') return streamUpdates(request, response);
      const thumbnail = /^\/thumbnail\/([^/]+)$/.exec(path);
      if (thumbnail) {
        const png = feed.thumbnail(decodeURIComponent(thumbnail[1]!));
        if (!png) return sendStatus(response, 404);
        response.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'image/png' });
        response.end(png);
        return;
      }
      const desktop = /^\/desktop\/([^/]+)$/.exec(path);
      if (desktop) {
        try {
          const link = await desktopLink(decodeURIComponent(desktop[1]!));
          response.writeHead(303, { ...COMMON_HEADERS, Location: link });
          response.end();
        } catch (error) {
          sendStatus(response, 409, describeError(error));
        }
        return;
      }
      sendStatus(response, 404);
    },
  });

  function streamUpdates(request: http.IncomingMessage, response: http.ServerResponse): void {
    response.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    streams.add(response);
    const unsubscribe = feed.subscribe((update) => response.write(`data: ${JSON.stringify(update)}\n\n`));
    request.on('close', () => {
      unsubscribe();
      streams.delete(response);
    });
  }

  served.onClose(() => {
    feed.stop();
    for (const stream of streams) stream.end();
  });
  await feed.start();
  return {
    url: served.url,
    port: served.port,
    close: async () => {
      await Promise.all([...desktops.values()].map((desktop) => desktop.then((viewer) => viewer.close()).catch(() => undefined)));
      await served.close();
    },
  };
}
