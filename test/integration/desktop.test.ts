import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { WebSocket } from 'ws';
import { SandboxController } from '../../src/core/controller';
import { VNC_PORT, captureDesktop } from '../../src/core/desktop';
import { serveDesktop } from '../../src/core/desktop/server';
import { serveDashboard } from '../../src/app/dashboardServer';
import { ensureSandboxImage } from '../../src/core/images';
import type { SandboxRecord } from '../../src/core/model';
import { TestEnvironment, docker, rootExec, tempDir, uniqueName } from './helpers';

/** Distinct colours in a frame: a blank (black or single-colour) screen has one or two. */
function distinctColours(rgb: Buffer): number {
  const seen = new Set<number>();
  for (let i = 0; i < rgb.length; i += 3 * 97) seen.add((rgb[i]! << 16) | (rgb[i + 1]! << 8) | rgb[i + 2]!);
  return seen.size;
}

async function eventually<T>(probe: () => Promise<T | undefined>, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** A desktop that has drawn its panel and icons, not just a black screen. */
async function drawnDesktop(controller: SandboxController, ref: string) {
  return eventually(async () => {
    const frame = await captureDesktop(controller, ref);
    return distinctColours(frame.rgb) > 20 ? frame : undefined;
  }, 'the desktop to be drawn');
}

describe('desktop sandboxes', function () {
  const env = new TestEnvironment();
  const controller = env.controller;
  let sandbox: SandboxRecord;

  before(async function () {
    await ensureSandboxImage(docker, { desktop: true });
    sandbox = await controller.create({ name: uniqueName('desk'), profile: { desktop: '1024x768' } });
  });
  after(async () => {
    await env.dispose();
  });

  it('runs a desktop whose VNC server answers inside the sandbox only', async function () {
    const frame = await drawnDesktop(controller, sandbox.id);
    assert.equal(frame.width, 1024);
    assert.equal(frame.height, 768);
    const listening = await controller.exec(sandbox.id, {
      command: ['python3', '-c', `import socket; s = socket.create_connection(("127.0.0.1", ${VNC_PORT})); print(s.recv(12).decode())`],
    });
    assert.equal(listening.stdout.trim(), 'RFB 003.008');
    const details = await docker.getContainer(sandbox.providerRef!).inspect();
    assert.deepEqual(Object.keys(details.HostConfig.PortBindings ?? {}), ['22/tcp'], 'only SSH is published');
    assert.deepEqual(Object.keys(details.NetworkSettings.Ports ?? {}).sort(), ['22/tcp']);
    // Listening sockets (state 0A) on the VNC port: every one on a loopback address.
    const port = VNC_PORT.toString(16).toUpperCase().padStart(4, '0');
    const bound = await rootExec(sandbox.providerRef!, `cat /proc/net/tcp /proc/net/tcp6 | awk '$4 == "0A" && $2 ~ /:${port}$/ {print $2}'`);
    const addresses = bound
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((address) => address.split(':')[0]);
    assert.ok(addresses.length > 0, 'something listens on the VNC port');
    for (const address of addresses) {
      assert.ok(['0100007F', '00000000000000000000000001000000'].includes(address!), `VNC listens on ${address}, not loopback`);
    }
  });

  it('saves a screenshot from the CLI', async function () {
    const file = path.join(tempDir('shot-'), 'desk.png');
    const result = await env.cli(['screenshot', sandbox.name, file, '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual({ ...JSON.parse(result.stdout), bytes: 0 }, { file, width: 1024, height: 768, bytes: 0 });
    const png = await fs.readFile(file);
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(png.readUInt32BE(16), 1024);
    assert.equal(png.readUInt32BE(20), 768);
    const plain = await env.cli(['screenshot', 'no-such-sandbox', file]);
    assert.equal(plain.code, 3);
    const nowhere = await env.cli(['screenshot', sandbox.name, path.join(path.dirname(file), 'missing', 'x.png')]);
    assert.equal(nowhere.code, 2);
    assert.match(nowhere.stderr, /missing does not exist; create it or save the screenshot elsewhere\./);
  });

  it('brings back a part of the desktop that died', async function () {
    await rootExec(sandbox.providerRef!, 'kill -9 $(pgrep -x Xvfb)');
    await eventually(async () => ((await rootExec(sandbox.providerRef!, 'pgrep -x Xvfb || true')).trim() ? true : undefined), 'Xvfb to be started again');
    await drawnDesktop(controller, sandbox.id);
  });

  it('serves the viewer to a browser behind a one-time token and a cookie', async function () {
    const served = await serveDesktop(controller, sandbox.id);
    try {
      const base = `http://127.0.0.1:${served.port}`;
      assert.equal((await fetch(`${base}/`)).status, 403, 'no token, no cookie');
      assert.equal((await fetch(`${base}/viewer.js`)).status, 403);
      assert.equal((await fetch(`${base}/?token=wrong`)).status, 403);
      const exchanged = await fetch(served.url, { redirect: 'manual' });
      assert.equal(exchanged.status, 303);
      assert.equal(exchanged.headers.get('location'), '/', 'the token leaves the address bar');
      const cookie = exchanged.headers.get('set-cookie')!;
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Strict/);
      const session = cookie.split(';')[0]!;
      assert.equal((await fetch(served.url, { redirect: 'manual' })).status, 403, 'the token works once');
      const page = await fetch(`${base}/`, { headers: { cookie: session } });
      assert.equal(page.status, 200);
      const html = await page.text();
      const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)![1]!.replace(/&#39;/g, "'");
      assert.doesNotMatch(csp, /unsafe-eval|unsafe-inline|https?:\/\/(?!127\.0\.0\.1)/);
      assert.equal((await fetch(`${base}/viewer.js`, { headers: { cookie: session } })).status, 200);

      const open = (headers: Record<string, string>) =>
        new Promise<string>((resolve) => {
          const socket = new WebSocket(`ws://127.0.0.1:${served.port}/vnc`, 'binary', { headers });
          socket.once('message', (data: Buffer) => {
            resolve(data.toString('latin1'));
            socket.close();
          });
          socket.once('error', (error) => resolve(`refused: ${error.message}`));
        });
      assert.match(await open({ Origin: base }), /^refused: .*403/, 'the WebSocket needs the cookie');
      assert.match(await open({ Cookie: session, Origin: 'http://evil.example' }), /^refused: .*403/, 'and a same-origin request');
      assert.equal(await open({ Cookie: session, Origin: base }), 'RFB 003.008\n');
    } finally {
      await served.close();
    }
  });

  it("shows the desktop's thumbnail on the dashboard, and opens its viewer from there", async function () {
    await drawnDesktop(controller, sandbox.id);
    const served = await serveDashboard(controller, { stateRoot: env.stateDir, pollMs: 200 });
    try {
      const base = `http://127.0.0.1:${served.port}`;
      assert.equal((await fetch(`${base}/thumbnail/${sandbox.id}`)).status, 403, 'no cookie, no thumbnail');
      const exchanged = await fetch(served.url, { redirect: 'manual' });
      assert.equal(exchanged.status, 303);
      const session = exchanged.headers.get('set-cookie')!.split(';')[0]!;
      assert.match(session, new RegExp(`^sandbox_dashboard_${served.port}=`), 'the port in its name: another server on 127.0.0.1 keeps its own');
      const png = await eventually(async () => {
        const response = await fetch(`${base}/thumbnail/${encodeURIComponent(sandbox.id)}`, { headers: { cookie: session } });
        return response.status === 200 ? Buffer.from(await response.arrayBuffer()) : undefined;
      }, "the desktop's thumbnail");
      assert.equal(png.subarray(1, 4).toString(), 'PNG');
      assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [320, 240], 'scaled down to 320 px across');
      // A click on it: the desktop's own one-time link, then that server's cookie and its viewer.
      const click = await fetch(`${base}/desktop/${encodeURIComponent(sandbox.id)}`, { headers: { cookie: session }, redirect: 'manual' });
      assert.equal(click.status, 303);
      const viewerLink = click.headers.get('location')!;
      assert.match(viewerLink, /^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
      const viewerPort = new URL(viewerLink).port;
      const viewer = await fetch(viewerLink, { redirect: 'manual' });
      assert.equal(viewer.status, 303);
      assert.match(viewer.headers.get('set-cookie')!, new RegExp(`^sandbox_desktop_${viewerPort}=`));
      // Another click: a new one-time link to the same viewer, not another server.
      const again = await fetch(`${base}/desktop/${encodeURIComponent(sandbox.name)}`, { headers: { cookie: session }, redirect: 'manual' });
      assert.equal(again.status, 303);
      const againLink = again.headers.get('location')!;
      assert.notEqual(againLink, viewerLink);
      assert.equal(new URL(againLink).port, viewerPort, 'one viewer per sandbox');
      assert.equal((await fetch(againLink, { redirect: 'manual' })).status, 303);
      // A page on another port of 127.0.0.1 gets the dashboard's cookie too (the same site), but
      // its <img src=".../desktop/ID"> or fetch is refused, whatever it sends.
      const asOtherPage = (headers: Record<string, string>) =>
        fetch(`${base}/desktop/${encodeURIComponent(sandbox.id)}`, { headers: { cookie: session, ...headers }, redirect: 'manual' });
      assert.equal((await asOtherPage({ 'sec-fetch-site': 'same-site' })).status, 403);
      assert.equal((await asOtherPage({ origin: 'http://127.0.0.1:1' })).status, 403);
      assert.equal((await asOtherPage({ referer: 'http://127.0.0.1:1/' })).status, 403);
    } finally {
      await served.close();
    }
  });

  it('starts a clone of a running desktop cleanly, stale X lock and all', async function () {
    const snapshot = `agent-sandboxes/test-snapshot:${uniqueName('s')}`;
    const [repo, tag] = snapshot.split(':');
    await docker.getContainer(sandbox.providerRef!).commit({ repo, tag });
    try {
      const lock = await rootExec(sandbox.providerRef!, 'ls /tmp/.X1-lock');
      assert.match(lock, /\.X1-lock/, 'the snapshot holds the running X server lock');
      const clone = await controller.create({ name: uniqueName('clone'), profile: { desktop: '1024x768', image: snapshot } });
      await drawnDesktop(controller, clone.id);
      await controller.delete(clone.id);
    } finally {
      await docker
        .getImage(snapshot)
        .remove({ force: true })
        .catch(() => undefined);
    }
  });

  it('refuses desktop actions on a sandbox without a desktop, saying how to get one', async function () {
    const plain = await controller.create({ name: uniqueName('plain') });
    await assert.rejects(captureDesktop(controller, plain.id), /has no desktop; start a sandbox with `sandbox start --desktop`/);
    await controller.delete(plain.id);
  });
});
