import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { SandboxError, describeError } from '../errors';
import { assertDesktop, openDesktopStream, type DesktopSandboxes } from './index';
import { viewerPage } from './viewerPage';

const COOKIE = 'sandbox_desktop';

export interface DesktopServer {
  /** Open this once: it carries the one-time token. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** dist/viewer.js and media/viewer.css, found above this module (bundle, compiled tests, installed extension). */
export function findViewerAssets(start: string = __dirname): { script: string; style: string } {
  let dir = path.resolve(start);
  for (;;) {
    const script = path.join(dir, 'dist', 'viewer.js');
    const style = path.join(dir, 'media', 'viewer.css');
    if (existsSync(script) && existsSync(style)) return { script, style };
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new SandboxError('invalid-input', 'The desktop viewer (dist/viewer.js) is missing; run `npm run build` or reinstall Agent Sandboxes.');
}

function sameSecret(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === COOKIE) return rest.join('=');
  }
  return undefined;
}

/**
 * Serves the desktop viewer of one sandbox on 127.0.0.1 for a plain browser. The URL carries
 * a random one-time token; the first request trades it for an HttpOnly cookie and a redirect
 * that drops it from the address bar. Every request, the WebSocket included, needs the
 * cookie, and the WebSocket also a same-origin Origin header. Its bytes go to the sandbox's
 * VNC server inside the sandbox's SSH connection.
 */
export async function serveDesktop(
  sandboxes: DesktopSandboxes,
  ref: string,
  options: { port?: number; viewOnly?: boolean; onConnection?: (event: 'open' | 'close', detail?: string) => void } = {},
): Promise<DesktopServer> {
  const record = await sandboxes.status(ref);
  assertDesktop(record);
  const assets = findViewerAssets();
  let token: string | undefined = randomBytes(24).toString('base64url');
  const session = randomBytes(32).toString('base64url');
  let origin = '';

  const server = http.createServer((request, response) => {
    void handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end(`${describeError(error)}\n`);
    });
  });
  const common = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY' };

  // Only requests addressed to this very origin: no other name (DNS rebinding) reaches the page.
  const addressedHere = (request: http.IncomingMessage) => request.headers.host === new URL(origin).host;

  async function handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    if (!addressedHere(request)) {
      response.writeHead(421, { ...common, 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('This server answers at 127.0.0.1 only.\n');
      return;
    }
    const url = new URL(request.url ?? '/', origin);
    if (url.pathname === '/favicon.ico') {
      response.writeHead(204, common);
      response.end();
      return;
    }
    const given = url.searchParams.get('token') ?? undefined;
    if (token && sameSecret(given, token)) {
      token = undefined; // one time only
      response.writeHead(303, { ...common, Location: '/', 'Set-Cookie': `${COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/` });
      response.end();
      return;
    }
    if (!sameSecret(cookieValue(request.headers.cookie), session)) {
      response.writeHead(403, { ...common, 'Content-Type': 'text/plain; charset=utf-8' });
      response.end(
        'This page needs the one-time link `sandbox desktop` printed, which works once; for another browser or tab run `sandbox desktop NAME` again.\n',
      );
      return;
    }
    if (request.method !== 'GET') {
      response.writeHead(405, common);
      response.end();
      return;
    }
    if (url.pathname === '/') {
      const nonce = randomBytes(16).toString('base64');
      const wsUrl = `${origin.replace(/^http/, 'ws')}/vnc`;
      response.writeHead(200, { ...common, 'Content-Type': 'text/html; charset=utf-8' });
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
    if (!file) {
      response.writeHead(404, common);
      response.end();
      return;
    }
    response.writeHead(200, { ...common, 'Content-Type': file[1] });
    response.end(await fs.readFile(file[0]));
  }

  const sockets = new WebSocketServer({ noServer: true });
  server.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url ?? '/', origin);
    const allowed =
      addressedHere(request) && url.pathname === '/vnc' && sameSecret(cookieValue(request.headers.cookie), session) && request.headers.origin === origin;
    if (!allowed) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (client) => void bridge(client));
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

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new SandboxError('conflict', `Port ${options.port} is already in use on 127.0.0.1; pick another with --port or leave it out.`)
          : error,
      ),
    );
    server.listen({ host: '127.0.0.1', port: options.port ?? 0 }, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/?token=${token}`,
    port,
    close: async () => {
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
