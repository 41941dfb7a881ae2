import { randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { SandboxError, describeError } from '../errors';

/** Headers of every answer: nothing cached, sniffed, framed or referred. */
export const COMMON_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
} as const;

/** How many one-time links may wait to be used at once. */
const UNUSED_LINKS = 4;

export interface OneTimeLinkOptions {
  port?: number;
  /**
   * The start of the session cookie's name, one per kind of page; the port is added to it, as a
   * browser keeps cookies per host, not per port, and two servers must not overwrite each other's.
   */
  cookie: string;
  /** The one sentence a request without the link or the cookie gets (with a 403). */
  refusal: string;
  /** An authorised GET (cookie checked, addressed to 127.0.0.1). */
  handle(request: http.IncomingMessage, response: http.ServerResponse, url: URL): Promise<void>;
  /** An authorised WebSocket upgrade (cookie and same-origin Origin checked); `origin` is the server's own. */
  upgrade?(request: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): void;
}

export interface OneTimeLinkServer {
  /** Open this once: it carries the one-time token. */
  url: string;
  port: number;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** A new one-time link to this server; of the links not used yet, the oldest stop working past a few. */
  newLink(): string;
  /** Called before the listener closes (to end WebSockets and streams). */
  onClose(close: () => void): void;
  close(): Promise<void>;
}

function sameSecret(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/**
 * Whether a browser's request comes from this server's own page, by what the browser says of it.
 * Another page on 127.0.0.1 (any port: the same site, so it gets the SameSite cookie) or anywhere
 * else may only navigate to `/` (the one-time link, the page); it may not load anything else, or
 * make this server do something, as an <img> or a form would. A client that says nothing (not a
 * browser) is judged by the token and the cookie alone.
 */
function fromThisPage(request: http.IncomingMessage, url: URL, origin: string): boolean {
  const site = request.headers['sec-fetch-site'];
  if (url.pathname === '/' && (site === undefined || request.headers['sec-fetch-mode'] === 'navigate')) return true;
  // `none`: the user typed or picked the address, which no page can make a browser do.
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const from = request.headers.origin ?? request.headers.referer;
  if (from === undefined) return true;
  try {
    return new URL(from).origin === origin;
  } catch {
    return false;
  }
}

/** Answers with a file's bytes. */
export async function sendFile(response: http.ServerResponse, file: string, contentType: string): Promise<void> {
  const bytes = await fs.readFile(file);
  response.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': contentType });
  response.end(bytes);
}

export function sendStatus(response: http.ServerResponse, status: number, text?: string): void {
  response.writeHead(status, text === undefined ? COMMON_HEADERS : { ...COMMON_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
  response.end(text === undefined ? undefined : `${text}\n`);
}

/**
 * A page server on 127.0.0.1 for a plain browser, shared by `sandbox desktop` and `sandbox
 * dashboard`. Its URL carries a random one-time token; the first request trades it for an
 * HttpOnly cookie and a redirect that drops it from the address bar. Every later request, a
 * WebSocket's included, needs the cookie, and a WebSocket also a same-origin Origin header.
 * Requests addressed to any other host name are refused (DNS rebinding), and so is a browser's
 * request for anything but the page itself from another page (see fromThisPage).
 */
export async function serveBehindOneTimeLink(options: OneTimeLinkOptions): Promise<OneTimeLinkServer> {
  /** The links not used yet, oldest first: a few, so two links asked for at once both work. */
  const tokens: string[] = [];
  const issue = () => {
    const token = randomBytes(24).toString('base64url');
    tokens.push(token);
    if (tokens.length > UNUSED_LINKS) tokens.shift();
    return token;
  };
  const firstToken = issue();
  const session = randomBytes(32).toString('base64url');
  let origin = '';
  let cookie = '';
  const closers: (() => void)[] = [];

  const addressedHere = (request: http.IncomingMessage) => request.headers.host === new URL(origin).host;
  const hasSession = (request: http.IncomingMessage) => sameSecret(cookieValue(request.headers.cookie, cookie), session);

  const server = http.createServer((request, response) => {
    void handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { ...COMMON_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
      response.end(`${describeError(error)}\n`);
    });
  });

  async function handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    if (!addressedHere(request)) return sendStatus(response, 421, 'This server answers at 127.0.0.1 only.');
    const url = new URL(request.url ?? '/', origin);
    if (url.pathname === '/favicon.ico') return sendStatus(response, 204);
    if (!fromThisPage(request, url, origin))
      return sendStatus(response, 403, "This request did not come from this server's own page; open the page from its link.");
    const given = url.searchParams.get('token') ?? undefined;
    const used = tokens.findIndex((token) => sameSecret(given, token));
    if (used >= 0) {
      tokens.splice(used, 1); // one time only
      const setCookie = `${cookie}=${session}; HttpOnly; SameSite=Strict; Path=/`;
      const site = request.headers['sec-fetch-site'];
      if (site === undefined || site === 'same-origin' || site === 'none') {
        response.writeHead(303, { ...COMMON_HEADERS, Location: '/', 'Set-Cookie': setCookie });
        response.end();
        return;
      }
      // Sent here by another page (a redirect page of the state dir, the dashboard): a redirect
      // would stay in that page's navigation, which gets no SameSite=Strict cookie; this page's own does.
      response.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Set-Cookie': setCookie });
      response.end('<!DOCTYPE html>\n<meta http-equiv="refresh" content="0;url=/">\n');
      return;
    }
    if (!hasSession(request)) return sendStatus(response, 403, options.refusal);
    if (request.method !== 'GET') return sendStatus(response, 405);
    await options.handle(request, response, url);
  }

  server.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const site = request.headers['sec-fetch-site'];
    const allowed =
      options.upgrade && addressedHere(request) && hasSession(request) && request.headers.origin === origin && (site === undefined || site === 'same-origin');
    if (!allowed) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    options.upgrade!(request, socket, head, new URL(request.url ?? '/', origin));
  });

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
  cookie = `${options.cookie}_${port}`;
  return {
    url: `${origin}/?token=${firstToken}`,
    port,
    origin,
    newLink: () => `${origin}/?token=${issue()}`,
    onClose: (close) => closers.push(close),
    close: async () => {
      for (const close of closers) close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
