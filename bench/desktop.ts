/**
 * Benchmarks of the desktop viewer (`sandbox desktop`: our page, noVNC, our WebSocket-to-SSH
 * bridge) against stock noVNC over Debian's websockify, measured in the same run on the same
 * desktop sandbox and through the same SSH connection, both in headless Chromium.
 * Run with `npm run bench -- desktop`; needs the Docker engine, Chromium and playwright-core
 * (test/e2e/host/install.sh, run when they are missing) and websockify (apt-get, likewise).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, promises as fs } from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import * as esbuild from 'esbuild';
import { SandboxController } from '../src/core/controller';
import { VNC_PORT, captureDesktop } from '../src/core/desktop';
import { serveDesktop, type DesktopServer } from '../src/core/desktop/server';
import { LABELS } from '../src/core/labels';
import { StateStore } from '../src/core/store/stateStore';
import { ms, percentile, ratioLine, report, sh } from './util';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const E2E_HOST_DIR = path.join(REPO_ROOT, 'test', 'e2e', 'host');
const CHROMIUM = '/usr/bin/chromium';
const GEOMETRY = { width: 1280, height: 800 };
/** Our viewer's toolbar (media/viewer.css): the page is that much taller than the desktop, so it shows unscaled. */
const TOOLBAR_HEIGHT = 30;
/** Generous: a loaded 2-core machine runs the desktop, the browser and the bridges at once. */
const STEP_TIMEOUT_MS = 90_000;
const CHANGE_TIMEOUT_MS = 30_000;
const OPEN_RUNS = 5;
/** Changes per viewer, in blocks that alternate ours and the baseline (ABBA) so drift in the machine's load hits both alike. */
const CHANGE_BLOCKS = 4;
const CHANGES_PER_BLOCK = 10;
const IDLE_MS = 20_000;
/** Far apart, so a lossy encoding cannot make one look like another. */
const FLASH_COLOURS: Array<[number, number, number]> = [
  [0xff, 0x00, 0x00],
  [0x00, 0x00, 0xff],
  [0x00, 0xc0, 0x00],
  [0xff, 0xff, 0x00],
];

/** The parts of playwright-core used here (its types live with the e2e host, apart from the extension's dependencies). */
interface Page {
  goto(url: string, options?: { timeout?: number }): Promise<unknown>;
  addInitScript(script: { content: string }): Promise<void>;
  evaluate<T>(expression: string): Promise<T>;
  close(): Promise<void>;
}
interface Browser {
  newPage(options?: { viewport?: { width: number; height: number }; deviceScaleFactor?: number }): Promise<Page>;
  close(): Promise<void>;
}

type ViewerKind = 'ours' | 'baseline';

interface OpenViewer {
  page: Page;
  /** Milliseconds from starting to open the viewer until its canvas showed the desktop, */
  firstFrameMs: number;
  /** until serveDesktop returned (ours only), */
  servedMs: number;
  /** until the page's script made its WebSocket, */
  socketMs: number;
  /** until our bridge had its channel to the VNC server (ours only), */
  bridgeMs: number;
  /** and until the first bytes came on the WebSocket. */
  firstBytesMs: number;
  close(): Promise<void>;
}

/** What one change cost: until the viewer showed it, until the exec that made it returned, until the WebSocket brought its last bytes. */
interface ChangeTiming {
  shownMs: number;
  execMs: number;
  arrivedMs: number;
}

/**
 * Runs in every viewer page before its own scripts (plain JavaScript: the bench compiles
 * without DOM types). Counts the bytes on the page's WebSockets, notes when the canvas first
 * shows the desktop, and offers `watch`: when a pixel of the canvas takes a colour.
 */
const PAGE_PROBE = String.raw`(() => {
  const bench = { received: 0, sent: 0, socketAt: 0, firstMessageAt: 0, lastMessageAt: 0, pending: undefined };
  let firstFrameShown;
  // Awaited through the DevTools protocol: the viewer's CSP forbids the eval of waitForFunction.
  bench.firstFrame = new Promise((resolve) => (firstFrameShown = resolve));
  window.__bench = bench;
  // Not a subclass: noVNC wants the socket's methods on its direct prototype.
  const NativeWebSocket = window.WebSocket;
  function CountingWebSocket(...args) {
    bench.socketAt ||= Date.now();
    const socket = new NativeWebSocket(...args);
    socket.addEventListener('message', (event) => {
      bench.received += event.data.byteLength ?? event.data.size ?? event.data.length ?? 0;
      bench.lastMessageAt = Date.now();
      bench.firstMessageAt ||= bench.lastMessageAt;
    });
    const send = socket.send.bind(socket);
    socket.send = (data) => {
      bench.sent += data.byteLength ?? data.size ?? data.length ?? 0;
      send(data);
    };
    return socket;
  }
  CountingWebSocket.prototype = NativeWebSocket.prototype;
  for (const state of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) CountingWebSocket[state] = NativeWebSocket[state];
  window.WebSocket = CountingWebSocket;
  const screenCanvas = () => document.querySelector('#screen canvas');
  // The desktop, not a blank canvas: many distinct colours in a nearest-neighbour thumbnail.
  const thumbnail = document.createElement('canvas');
  thumbnail.width = 80;
  thumbnail.height = 50;
  const thumbnailContext = thumbnail.getContext('2d', { willReadFrequently: true });
  thumbnailContext.imageSmoothingEnabled = false;
  const distinctColours = (canvas) => {
    thumbnailContext.clearRect(0, 0, thumbnail.width, thumbnail.height);
    thumbnailContext.drawImage(canvas, 0, 0, thumbnail.width, thumbnail.height);
    const data = thumbnailContext.getImageData(0, 0, thumbnail.width, thumbnail.height).data;
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  };
  const watchFirstFrame = () => {
    const canvas = screenCanvas();
    if (canvas && canvas.width > 1 && canvas.height > 1 && distinctColours(canvas) > 20) {
      firstFrameShown(Date.now());
      return;
    }
    requestAnimationFrame(watchFirstFrame);
  };
  requestAnimationFrame(watchFirstFrame);
  bench.pixel = (x, y) => {
    const canvas = screenCanvas();
    return canvas ? Array.from(canvas.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3)) : [];
  };
  bench.watch = (x, y, colour, timeoutMs) =>
    new Promise((resolve) => {
      const deadline = Date.now() + timeoutMs;
      const check = () => {
        const [r, g, b] = bench.pixel(x, y);
        if (r !== undefined && Math.abs(r - colour[0]) + Math.abs(g - colour[1]) + Math.abs(b - colour[2]) <= 60) {
          resolve({ seenAt: Date.now(), lastMessageAt: bench.lastMessageAt });
        } else if (Date.now() > deadline) {
          resolve({ seenAt: 0, lastMessageAt: 0 });
        } else {
          requestAnimationFrame(check);
        }
      };
      requestAnimationFrame(check);
    });
})();`;

/** The baseline page's script: stock noVNC on a plain WebSocket to websockify, scaled to the page like ours. */
const BASELINE_SCRIPT = `
import RFB from '@novnc/novnc';
const rfb = new RFB(document.getElementById('screen'), new WebSocket(document.body.dataset.websocket), { shared: true });
rfb.scaleViewport = true;
rfb.resizeSession = false;
`;

/** The screen sits below a bar as tall as our viewer's toolbar, so both canvases are drawn at the same size. */
function baselinePage(websocketUrl: string): string {
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

const sleep = (delayMs: number) => new Promise((resolve) => setTimeout(resolve, delayMs));

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not come within ${timeoutMs} ms`)), timeoutMs)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function distinctColours(rgb: Buffer): number {
  const seen = new Set<number>();
  for (let i = 0; i < rgb.length; i += 3 * 97) seen.add((rgb[i]! << 16) | (rgb[i + 1]! << 8) | rgb[i + 2]!);
  return seen.size;
}

function hex([r, g, b]: [number, number, number]): string {
  return `#${[r, g, b].map((channel) => channel.toString(16).padStart(2, '0')).join('')}`;
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function waitForListener(port: number, timeoutMs: number, process?: ChildProcess): Promise<void> {
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
async function launchChromium(profileDir: string): Promise<Browser> {
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

async function ensureWebsockify(): Promise<void> {
  const found = await sh('command -v websockify').then(
    () => true,
    () => false,
  );
  if (found) return;
  console.log('installing websockify with apt-get (the baseline bridge)');
  await sh('apt-get update -qq && apt-get install -y -qq --no-install-recommends websockify >/dev/null', { DEBIAN_FRONTEND: 'noninteractive' });
}

/** Debian's websockify from 127.0.0.1:<free port> to `targetPort`, in a process group of its own (it forks per connection). */
async function startWebsockify(targetPort: number): Promise<{ port: number; stop(): Promise<void> }> {
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
async function serveBaselinePage(websocketPort: number): Promise<{ url: string; close(): Promise<void> }> {
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

export async function desktopBenchmarks(): Promise<void> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'sandbox-bench-desktop-'));
  const stateDir = path.join(workDir, 'state');
  const browserDir = path.join(workDir, 'browser');
  mkdirSync(stateDir);
  mkdirSync(browserDir);
  const store = new StateStore(stateDir);
  const controller = new SandboxController({ store });
  const cleanups: Array<() => Promise<unknown> | unknown> = [];

  try {
    await ensureWebsockify();
    const browser = await launchChromium(browserDir);
    cleanups.push(() => browser.close());
    await controller.buildImage({ desktop: true }); // a no-op when the image is current

    const sandbox = await controller.create({ name: 'bench-desktop', profile: { desktop: `${GEOMETRY.width}x${GEOMETRY.height}` } });
    cleanups.push(() => controller.delete(sandbox.id));
    await waitForDrawnDesktop(controller, sandbox.id);
    const flash = await startFlashWindow(controller, sandbox.id);

    // The baseline's bytes also ride the sandbox's SSH connection: a forwarded port, since the VNC port is never published.
    const vncForward = await controller.forward(sandbox.id, VNC_PORT);
    cleanups.push(() => vncForward.close());
    const websockify = await startWebsockify(vncForward.localPort);
    cleanups.push(() => websockify.stop());
    const baselineServer = await serveBaselinePage(websockify.port);
    cleanups.push(() => baselineServer.close());

    const openViewer = async (kind: ViewerKind): Promise<OpenViewer> => {
      const page = await browser.newPage({ viewport: { width: GEOMETRY.width, height: GEOMETRY.height + TOOLBAR_HEIGHT }, deviceScaleFactor: 1 });
      await page.addInitScript({ content: PAGE_PROBE });
      let served: DesktopServer | undefined;
      const close = async () => {
        await page.close().catch(() => undefined);
        await served?.close();
      };
      try {
        let bridgedAt = NaN;
        const onConnection = (event: 'open' | 'close') => {
          if (event === 'open' && Number.isNaN(bridgedAt)) bridgedAt = Date.now();
        };
        const started = Date.now();
        if (kind === 'ours') served = await serveDesktop(controller, sandbox.id, { onConnection });
        const servedAt = kind === 'ours' ? Date.now() : NaN;
        await page.goto(served?.url ?? baselineServer.url, { timeout: STEP_TIMEOUT_MS });
        const firstFrameAt = await withTimeout(page.evaluate<number>('window.__bench.firstFrame'), STEP_TIMEOUT_MS, 'the first frame');
        const socket = await page.evaluate<{ socketAt: number; firstMessageAt: number }>(
          '({ socketAt: window.__bench.socketAt, firstMessageAt: window.__bench.firstMessageAt })',
        );
        return {
          page,
          firstFrameMs: firstFrameAt - started,
          servedMs: servedAt - started,
          socketMs: socket.socketAt - started,
          bridgeMs: bridgedAt - started,
          firstBytesMs: socket.firstMessageAt - started,
          close,
        };
      } catch (error) {
        await close();
        throw new Error(`the ${kind} viewer did not show the desktop: ${(error as Error).message}`, { cause: error });
      }
    };

    // 1. Open to first frame, a fresh page each time, alternating.
    const opened: Record<ViewerKind, OpenViewer[]> = { ours: [], baseline: [] };
    for (let run = 0; run < OPEN_RUNS; run++) {
      for (const kind of ['ours', 'baseline'] as const) {
        const viewer = await openViewer(kind);
        opened[kind].push(viewer);
        await viewer.close();
      }
    }
    const openedAt = (kind: ViewerKind, field: Exclude<keyof OpenViewer, 'page' | 'close'>) =>
      percentile(
        opened[kind].map((viewer) => viewer[field]),
        50,
      );
    const runs = (kind: ViewerKind) => opened[kind].map((viewer) => viewer.firstFrameMs.toFixed(0)).join(' ');
    report(`Desktop viewer: open to the first frame (${OPEN_RUNS} fresh pages each), p50`, [
      ['sandbox desktop (serveDesktop + page)', ms(openedAt('ours', 'firstFrameMs'))],
      ['noVNC page over websockify', ms(openedAt('baseline', 'firstFrameMs'))],
      ['p50 ratio', ratioLine(openedAt('ours', 'firstFrameMs'), openedAt('baseline', 'firstFrameMs'))],
      [
        'ours: served / WebSocket made / bridge open / first bytes',
        (['servedMs', 'socketMs', 'bridgeMs', 'firstBytesMs'] as const).map((field) => ms(openedAt('ours', field))).join(' / '),
      ],
      ['baseline: WebSocket made / first bytes', `${ms(openedAt('baseline', 'socketMs'))} / ${ms(openedAt('baseline', 'firstBytesMs'))}`],
      ['every run, ours / baseline', `${runs('ours')} / ${runs('baseline')} ms`],
    ]);

    // 2. Update latency: the flash window changes colour; the page watches the pixel at its centre.
    const timings: Record<ViewerKind, ChangeTiming[]> = { ours: [], baseline: [] };
    const missed: Record<ViewerKind, number> = { ours: 0, baseline: 0 };
    let colourIndex = 0;
    const order: ViewerKind[] = [];
    for (let block = 0; block < CHANGE_BLOCKS; block++) order.push(...((block % 2 === 0 ? ['ours', 'baseline'] : ['baseline', 'ours']) as ViewerKind[]));
    for (const kind of order) {
      const viewer = await openViewer(kind);
      try {
        await sleep(1000); // let the first frame's follow-up updates pass
        for (let change = 0; change < CHANGES_PER_BLOCK; change++) {
          // A random pause, so changes do not fall in step with the VNC server's or the browser's cycles.
          await sleep(150 + Math.random() * 250);
          const colour = FLASH_COLOURS[++colourIndex % FLASH_COLOURS.length]!;
          await viewer.page.evaluate(
            `void (window.__bench.pending = window.__bench.watch(${flash.x}, ${flash.y}, ${JSON.stringify(colour)}, ${CHANGE_TIMEOUT_MS}))`,
          );
          const changedAt = Date.now();
          const written = await controller.exec(sandbox.id, {
            command: ['sh', '-c', `printf '\\033]11;${hex(colour)}\\007' > ${flash.tty}`],
            timeoutMs: CHANGE_TIMEOUT_MS,
          });
          const execMs = Date.now() - changedAt;
          if (written.exitCode !== 0) throw new Error(`writing to the flash window failed: ${written.stderr}`);
          const seen = await viewer.page.evaluate<{ seenAt: number; lastMessageAt: number }>('window.__bench.pending');
          if (seen.seenAt === 0) missed[kind]++;
          else timings[kind].push({ shownMs: seen.seenAt - changedAt, execMs, arrivedMs: seen.lastMessageAt - changedAt });
        }
      } finally {
        await viewer.close();
      }
    }
    // The floor under both: the VNC server alone, read by a raw RFB client inside the sandbox.
    const serverAlone = await vncServerLatency(controller, sandbox.id, flash, colourIndex + 1, CHANGE_BLOCKS * CHANGES_PER_BLOCK);
    for (const kind of ['ours', 'baseline'] as const) {
      if (timings[kind].length < (CHANGE_BLOCKS * CHANGES_PER_BLOCK) / 2)
        throw new Error(`the ${kind} viewer showed only ${timings[kind].length} of ${CHANGE_BLOCKS * CHANGES_PER_BLOCK} changes`);
    }
    const at = (kind: ViewerKind, p: number, field: keyof ChangeTiming = 'shownMs') =>
      percentile(
        timings[kind].map((timing) => timing[field]),
        p,
      );
    const pair = (kind: ViewerKind, field: keyof ChangeTiming) => `${ms(at(kind, 50, field))} / ${ms(at(kind, 95, field))}`;
    report(`Desktop viewer: a change in the sandbox until the viewer shows it (${CHANGE_BLOCKS * CHANGES_PER_BLOCK} changes each), p50 / p95`, [
      ['sandbox desktop', pair('ours', 'shownMs')],
      ['noVNC over websockify', pair('baseline', 'shownMs')],
      ['p50 ratio', ratioLine(at('ours', 50), at('baseline', 50), 1.2)],
      ['p95 ratio', ratioLine(at('ours', 95), at('baseline', 95), 1.2)],
      [
        'the VNC server alone starts its update',
        `${ms(percentile(serverAlone, 50))} / ${ms(percentile(serverAlone, 95))} (a raw RFB client in the sandbox, no exec)`,
      ],
      ['milestone: the exec making the change returned', `${pair('ours', 'execMs')} (ours) ${pair('baseline', 'execMs')} (baseline)`],
      ['milestone: its last WebSocket message arrived', `${pair('ours', 'arrivedMs')} (ours) ${pair('baseline', 'arrivedMs')} (baseline)`],
      ['changes never shown (within 30 s)', `${missed.ours} (ours) ${missed.baseline} (baseline)`],
    ]);

    // 3. Idle traffic: both viewers connected over the same 20 s, so the little that does change (the panel's clock) reaches both.
    const idle: Record<ViewerKind, { received: number; sent: number }> = { ours: { received: 0, sent: 0 }, baseline: { received: 0, sent: 0 } };
    const idleViewers: Partial<Record<ViewerKind, OpenViewer>> = {};
    try {
      for (const kind of ['ours', 'baseline'] as const) idleViewers[kind] = await openViewer(kind);
      await sleep(3000); // past the first frames and their follow-ups
      const counters = (kind: ViewerKind) =>
        idleViewers[kind]!.page.evaluate<{ received: number; sent: number; at: number }>(
          '({ received: window.__bench.received, sent: window.__bench.sent, at: Date.now() })',
        );
      const before = { ours: await counters('ours'), baseline: await counters('baseline') };
      await sleep(IDLE_MS);
      for (const kind of ['ours', 'baseline'] as const) {
        const after = await counters(kind);
        const seconds = (after.at - before[kind].at) / 1000;
        idle[kind] = { received: (after.received - before[kind].received) / seconds, sent: (after.sent - before[kind].sent) / seconds };
      }
    } finally {
      for (const viewer of Object.values(idleViewers)) await viewer.close();
    }
    const rate = (value: number) => `${value.toFixed(1)} B/s`;
    report(`Desktop viewer: idle traffic, both connected over the same ${IDLE_MS / 1000} s, bytes on the page's WebSocket`, [
      ['sandbox desktop, to / from the viewer', `${rate(idle.ours.received)} / ${rate(idle.ours.sent)}`],
      ['noVNC over websockify, to / from the viewer', `${rate(idle.baseline.received)} / ${rate(idle.baseline.sent)}`],
      [
        'ratio (to the viewer)',
        idle.baseline.received > 0
          ? ratioLine(idle.ours.received, idle.baseline.received)
          : idle.ours.received > 0
            ? 'the baseline received nothing'
            : 'neither received anything',
      ],
    ]);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error(`cleaning up: ${(error as Error).message}`);
      }
    }
    await removeLeftovers(store).catch((error: unknown) => console.error(`cleaning up: ${(error as Error).message}`));
    controller.dispose();
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

/** A desktop that has drawn its panel and icons, not just a black screen (it starts with the sandbox). */
async function waitForDrawnDesktop(controller: SandboxController, ref: string): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const frame = await captureDesktop(controller, ref).catch(() => undefined);
    if (frame && distinctColours(frame.rgb) > 20) return;
    if (Date.now() > deadline) throw new Error('the desktop was not drawn in time');
    await sleep(500);
  }
}

/**
 * A big xterm whose background the benchmark flips with the OSC 11 escape written to its tty:
 * one exec repaints most of a window of about 960x580. Returns that tty and the window's centre.
 */
async function startFlashWindow(controller: SandboxController, ref: string): Promise<{ tty: string; x: number; y: number }> {
  const script = [
    'export DISPLAY=:1',
    'rm -f /tmp/flash-tty',
    // The pointer goes to the edge of the screen, away from the window.
    `xdotool mousemove ${GEOMETRY.width - 2} ${Math.floor(GEOMETRY.height / 2)}`,
    `setsid xterm -T bench-flash -fa 'DejaVu Sans Mono' -fs 14 -geometry 80x24+60+80 -e sh -c 'tty > /tmp/flash-tty; exec sleep infinity' </dev/null >/dev/null 2>&1 &`,
    'for _ in $(seq 300); do [ -s /tmp/flash-tty ] && xwininfo -name bench-flash >/dev/null 2>&1 && break; sleep 0.1; done',
    'sleep 1', // mapped and placed by the window manager
    'cat /tmp/flash-tty',
    'xwininfo -name bench-flash',
  ].join('\n');
  const result = await controller.exec(ref, { command: ['sh', '-c', script], timeoutMs: STEP_TIMEOUT_MS });
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(-?\\d+)`).exec(result.stdout)?.[1]);
  const tty = result.stdout.split('\n')[0]!.trim();
  const [left, top, width, height] = [field('Absolute upper-left X'), field('Absolute upper-left Y'), field('Width'), field('Height')];
  if (!tty.startsWith('/dev/') || [left, top, width, height].some((value) => Number.isNaN(value))) {
    throw new Error(`the flash window did not start: ${result.stdout}${result.stderr}`);
  }
  return { tty, x: Math.round(left + width / 2), y: Math.round(top + height / 2) };
}

/**
 * A raw RFB client on the sandbox's own VNC port (Python, which the sandbox image has):
 * from writing the escape to the flash window's tty until the VNC server starts the update that
 * covers the window's centre. Prints one time in milliseconds a line.
 */
const RAW_RFB_PROBE = String.raw`import select, socket, struct, sys, time, random
tty, x, y, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
colours = sys.argv[5:]
vnc = socket.create_connection(('127.0.0.1', ${VNC_PORT}))
vnc.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

def read(n):
    data = b''
    while len(data) < n:
        chunk = vnc.recv(n - len(data))
        if not chunk:
            raise EOFError('the VNC server hung up')
        data += chunk
    return data

read(12)
vnc.sendall(b'RFB 003.008\n')
read(read(1)[0])
vnc.sendall(b'\x01')  # security type None
read(4)
vnc.sendall(b'\x01')  # shared
width, height = struct.unpack('>HH', read(4))
read(16)
read(struct.unpack('>I', read(4))[0])
vnc.sendall(struct.pack('>BBHi', 2, 0, 1, 0))  # raw encoding only: the simplest to read

def request(incremental=1):
    vnc.sendall(struct.pack('>BBHHHH', 3, incremental, 0, 0, width, height))

# When the next update started, and whether it covers (x, y); other messages are skipped.
def next_update():
    while True:
        kind = read(1)[0]
        if kind == 0:
            break
        if kind == 1:  # colour map entries
            read(3)
            read(6 * struct.unpack('>H', read(2))[0])
        elif kind == 3:  # server cut text
            read(3)
            read(struct.unpack('>I', read(4))[0])
    started = time.time()
    read(1)
    covers = False
    for _ in range(struct.unpack('>H', read(2))[0]):
        left, top, w, h, _encoding = struct.unpack('>HHHHi', read(12))
        read(w * h * 4)
        covers = covers or (left <= x < left + w and top <= y < top + h)
    return started, covers

request(0)
next_update()
for i in range(count):
    time.sleep(0.15 + random.random() * 0.25)
    request()
    # Whatever else changed meanwhile (the panel's clock) is read first.
    while select.select([vnc], [], [], 0.05)[0]:
        next_update()
        request()
    changed = time.time()
    with open(tty, 'w') as terminal:
        terminal.write('\033]11;%s\007' % colours[i % len(colours)])
    while True:
        started, covers = next_update()
        if covers:
            break
        request()
    print('%.1f' % ((started - changed) * 1000), flush=True)
`;

async function vncServerLatency(
  controller: SandboxController,
  ref: string,
  flash: { tty: string; x: number; y: number },
  firstColour: number,
  count: number,
): Promise<number[]> {
  const colours = Array.from({ length: FLASH_COLOURS.length }, (_, i) => hex(FLASH_COLOURS[(firstColour + i) % FLASH_COLOURS.length]!));
  const result = await controller.exec(ref, {
    command: ['python3', '-', flash.tty, String(flash.x), String(flash.y), String(count), ...colours],
    stdin: RAW_RFB_PROBE,
    timeoutMs: STEP_TIMEOUT_MS * 2,
  });
  const times = result.stdout.split('\n').filter(Boolean).map(Number);
  if (result.exitCode !== 0 || times.length !== count) throw new Error(`the raw RFB client failed: ${result.stderr}`);
  return times;
}

/** Containers of this state dir's owner that a failed step left behind. */
async function removeLeftovers(store: StateStore): Promise<void> {
  const docker = new Dockerode();
  const ownerId = await store.ownerId();
  for (const container of await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${ownerId}`] } })) {
    await docker
      .getContainer(container.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}
