/**
 * Benchmarks of the desktop viewer (`sandbox desktop`: our page, noVNC, our WebSocket-to-SSH
 * bridge) against stock noVNC over Debian's websockify, measured in the same run on the same
 * desktop sandbox and through the same SSH connection, both in headless Chromium.
 * Run with `npm run bench -- desktop`; needs the Docker engine, Chromium and playwright-core
 * (test/e2e/host/install.sh, run when they are missing) and websockify (apt-get, likewise).
 */
import { mkdirSync, mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxController } from '../src/core/controller';
import { VNC_PORT } from '../src/core/desktop';
import { serveDesktop, type DesktopServer } from '../src/core/desktop/server';
import { StateStore } from '../src/core/store/stateStore';
import { ms, percentile, ratioLine, report } from './util';
import {
  GEOMETRY,
  TOOLBAR_HEIGHT,
  STEP_TIMEOUT_MS,
  CHANGE_TIMEOUT_MS,
  OPEN_RUNS,
  CHANGE_BLOCKS,
  CHANGES_PER_BLOCK,
  IDLE_MS,
  FLASH_COLOURS,
} from './desktopConstants';
import { type Page, sleep, withTimeout, hex, launchChromium, ensureWebsockify, startWebsockify, serveBaselinePage } from './desktopBrowser';
import { waitForDrawnDesktop, startFlashWindow, vncServerLatency, removeLeftovers } from './desktopSandbox';
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
