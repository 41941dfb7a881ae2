import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { SandboxError, describeError } from '../errors';
import { findPackagedFiles } from '../util/packagedFiles';
import { COMMON_HEADERS, sendFile, sendStatus, serveBehindOneTimeLink } from '../util/oneTimeLinkServer';
import { assertDesktop, openDesktopStream, type DesktopSandboxes } from './index';
import { viewerPage } from './viewerPage';

const COOKIE = 'sandbox_desktop';

export interface DesktopServer {
  /** Open this once: it carries the one-time token. */
  url: string;
  port: number;
  /** A new one-time link to this viewer (for another tab or browser); past a few unused ones, the oldest stop working. */
  newLink(): string;
  close(): Promise<void>;
}

/** dist/viewer.js and media/viewer.css, found above this module (bundle, compiled tests, installed extension). */
export function findViewerAssets(start: string = __dirname): { script: string; style: string } {
  const found = findPackagedFiles(['dist/viewer.js', 'media/viewer.css'], start);
  if (!found) throw new SandboxError('invalid-input', 'The desktop viewer (dist/viewer.js) is missing; run `npm run build` or reinstall Agent Sandboxes.');
  return { script: found[0]!, style: found[1]! };
}

/**
 * Serves the desktop viewer of one sandbox on 127.0.0.1 for a plain browser, behind a one-time
 * link and its cookie (see oneTimeLinkServer.ts). The WebSocket's bytes go to the sandbox's VNC
 * server inside the sandbox's SSH connection.
 */
export async function serveDesktop(
  sandboxes: DesktopSandboxes,
  ref: string,
  options: { port?: number; viewOnly?: boolean; onConnection?: (event: 'open' | 'close', detail?: string) => void } = {},
): Promise<DesktopServer> {
  const record = await sandboxes.status(ref);
  assertDesktop(record);
  const assets = findViewerAssets();
  const sockets = new WebSocketServer({ noServer: true });
  const served = await serveBehindOneTimeLink({
    port: options.port,
    cookie: COOKIE,
    refusal: 'This page needs the one-time link `sandbox desktop` printed, which works once; for another browser or tab run `sandbox desktop NAME` again.',
    async handle(_request, response, url) {
      if (url.pathname === '/') {
        const nonce = randomBytes(16).toString('base64');
        const wsUrl = `${served.origin.replace(/^http/, 'ws')}/vnc`;
        response.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'text/html; charset=utf-8' });
        response.end(
          viewerPage({
            scriptUri: '/viewer.js',
            styleUri: '/viewer.css',
            cspSource: "'self'",
            connectSources: [wsUrl],
            nonce,
            config: { transport: 'websocket', sandbox: record.name, viewOnly: options.viewOnly ?? false, websocketPath: '/vnc' },
          }),
        );
        return;
      }
      const files: Record<string, [string, string]> = {
        '/viewer.js': [assets.script, 'text/javascript; charset=utf-8'],
        '/viewer.css': [assets.style, 'text/css; charset=utf-8'],
      };
      const file = files[url.pathname];
      if (!file) return sendStatus(response, 404);
      await sendFile(response, file[0], file[1]);
    },
    upgrade(request, socket, head, url) {
      if (url.pathname !== '/vnc') {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      sockets.handleUpgrade(request, socket, head, (client) => void bridge(client));
    },
  });
  served.onClose(() => {
    for (const client of sockets.clients) client.terminate();
    sockets.close();
  });

  async function bridge(client: WebSocket): Promise<void> {
    let desktop;
    try {
      desktop = await openDesktopStream(sandboxes, record.id);
    } catch (error) {
      client.close(1011, describeError(error).slice(0, 120));
      return;
    }
    const { stream } = desktop;
    if (client.readyState !== client.OPEN) {
      // The page went away while the channel was being opened.
      stream.destroy();
      return;
    }
    options.onConnection?.('open');
    client.on('message', (data: Buffer) => stream.write(data));
    stream.on('data', (data: Buffer) => client.send(data));
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      stream.destroy();
      client.close();
      options.onConnection?.('close');
    };
    client.on('close', end);
    client.on('error', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  return { url: served.url, port: served.port, newLink: () => served.newLink(), close: () => served.close() };
}
