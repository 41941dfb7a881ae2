/** Chromium, websockify and the baseline page (stock noVNC) for the desktop benchmarks. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { sh } from './util';
import { CHROMIUM, E2E_HOST_DIR, REPO_ROOT, STEP_TIMEOUT_MS, TOOLBAR_HEIGHT } from './desktopConstants';
/** The parts of playwright-core used here (its types live with the e2e host, apart from the extension's dependencies). */
export interface Page {
  goto(url: string, options?: { timeout?: number }): Promise<unknown>;
  addInitScript(script: { content: string }): Promise<void>;
  evaluate<T>(expression: string): Promise<T>;
  close(): Promise<void>;
}
export interface Browser {
  newPage(options?: { viewport?: { width: number; height: number }; deviceScaleFactor?: number }): Promise<Page>;
  close(): Promise<void>;
}

/** The baseline page's script: stock noVNC on a plain WebSocket to websockify, scaled to the page like ours. */
export const BASELINE_SCRIPT = `
import RFB from '@novnc/novnc';
const rfb = new RFB(document.getElementById('screen'), new WebSocket(document.body.dataset.websocket), { shared: true });
rfb.scaleViewport = true;
rfb.resizeSession = false;
`;

/** The screen sits below a bar as tall as our viewer's toolbar, so both canvases are drawn at the same size. */
export function baselinePage(websocketUrl: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>noVNC over websockify</title>
<style>
html, body { height: 100%; margin: 0; overflow: hidden; background: #1e1e1e; }
#screen { position: absolute; top: ${TOOLBAR_HEIGHT}px; left: 0; right: 0; bottom: 0; }
</style>
</head>
<body data-websocket="${websocketUrl}">
<div id="screen"></div>
<script type="module" src="/baseline.js"></script>
</body>
</html>
`;
}

export const sleep = (delayMs: number) => new Promise((resolve) => setTimeout(resolve, delayMs));

export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not come within ${timeoutMs} ms`)), timeoutMs)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function distinctColours(rgb: Buffer): number {
  const seen = new Set<number>();
  for (let i = 0; i < rgb.length; i += 3 * 97) seen.add((rgb[i]! << 16) | (rgb[i + 1]! << 8) | rgb[i + 2]!);
  return seen.size;
}

export function hex([r, g, b]: [number, number, number]): string {
  return `#${[r, g, b].map((channel) => channel.toString(16).padStart(2, '0')).join('')}`;
}

export async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function waitForListener(port: number, timeoutMs: number, process?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const listening = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (listening) return;
    if (process?.exitCode !== null && process?.exitCode !== undefined)
      throw new Error(`the process meant to listen on ${port} exited with ${process.exitCode}`);
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** playwright-core and Chromium, installed by the e2e host's script when either is missing. */
export async function launchChromium(profileDir: string): Promise<Browser> {
  const hostRequire = createRequire(path.join(E2E_HOST_DIR, 'package.json'));
  const resolvable = () => {
    try {
      hostRequire.resolve('playwright-core');
      return true;
    } catch {
      return false;
    }
  };
  if (!resolvable() || !existsSync(CHROMIUM)) {
    console.log('installing Chromium and playwright-core (bash test/e2e/host/install.sh)');
    await sh(`bash ${path.join(E2E_HOST_DIR, 'install.sh')}`);
  }
  const { chromium } = hostRequire('playwright-core') as { chromium: { launch(options: object): Promise<Browser> } };
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    env: { ...process.env, XDG_CONFIG_HOME: profileDir, HOME: profileDir },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

export async function ensureWebsockify(): Promise<void> {
  const found = await sh('command -v websockify').then(
    () => true,
    () => false,
  );
  if (found) return;
  console.log('installing websockify with apt-get (the baseline bridge)');
  await sh('apt-get update -qq && apt-get install -y -qq --no-install-recommends websockify >/dev/null', { DEBIAN_FRONTEND: 'noninteractive' });
}

/** Debian's websockify from 127.0.0.1:<free port> to `targetPort`, in a process group of its own (it forks per connection). */
export async function startWebsockify(targetPort: number): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn('websockify', [`127.0.0.1:${port}`, `127.0.0.1:${targetPort}`], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    };
    signalGroup('SIGTERM');
    const killer = setTimeout(() => signalGroup('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  };
  try {
    await waitForListener(port, STEP_TIMEOUT_MS, child);
  } catch (error) {
    await stop();
    throw new Error(`websockify did not start: ${(error as Error).message}\n${log}`, { cause: error });
  }
  return { port, stop };
}

/** The baseline page and its script (noVNC bundled by esbuild as dist/viewer.js is), on a loopback port. */
export async function serveBaselinePage(websocketPort: number): Promise<{ url: string; close(): Promise<void> }> {
  const bundle = await esbuild.build({
    stdin: { contents: BASELINE_SCRIPT, resolveDir: REPO_ROOT, sourcefile: 'baseline.js', loader: 'js' },
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    logLevel: 'warning',
  });
  const script = bundle.outputFiles[0]!.contents;
  const html = baselinePage(`ws://127.0.0.1:${websocketPort}`);
  const server = http.createServer((request, response) => {
    const headers = { 'Cache-Control': 'no-store' };
    if (request.url === '/') response.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' }).end(html);
    else if (request.url === '/baseline.js') response.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' }).end(script);
    else response.writeHead(404, headers).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
