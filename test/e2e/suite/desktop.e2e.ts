import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { captureDesktop } from '../../../src/core/desktop';
import type { SandboxRecord } from '../../../src/core/model';
import type { DesktopPanel } from '../../../src/extension/desktopPanel';
import type { SandboxesApi } from '../../../src/extension/extension';
import type { SandboxTreeNode } from '../../../src/extension/views/sandboxTree';
import { note, suiteSettings } from './index';
import { decodePng, decodePngDataUrl, distinctColours, meanDifference, shareOfColour, type RgbImage } from './pixels';

const EXTENSION_ID = 'agent-sandboxes.agent-sandboxes';
const settings = suiteSettings();
/** Only bounds for a failing test to end: nothing here measures how long anything takes. */
const PATIENCE_MS = 90_000;
/** Building the desktop image from nothing (the sandbox image, then XFCE and Firefox) on a slow machine. */
const IMAGE_BUILD_MS = 40 * 60_000;
const GEOMETRY = '1024x768';
const RED: [number, number, number] = [255, 0, 0];

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: () => string): Promise<T> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = await Promise.resolve(probe()).catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function viewerImage(panel: DesktopPanel): Promise<RgbImage> {
  const capture = await panel.capture(PATIENCE_MS);
  const image = decodePngDataUrl(capture.dataUrl);
  assert.deepEqual([image.width, image.height], [capture.width, capture.height]);
  return image;
}

describe('Desktops in VS Code: the viewer in a webview panel', function () {
  // Several waits per test, each bounded by PATIENCE_MS.
  this.timeout(10 * PATIENCE_MS);
  let api: SandboxesApi;
  let first: SandboxRecord;
  let second: SandboxRecord;
  const suffix = process.pid.toString(36);

  async function createDesktop(name: string): Promise<SandboxRecord> {
    return api.cockpit.controller.create({ name, profile: { desktop: GEOMETRY, cpus: 1, memory: 1024 ** 3 } });
  }

  /**
   * Starts a maximized xterm titled "marker" on the sandbox's desktop and waits until it is shown.
   * It runs `cat`, not a shell, whose prompt would retitle it.
   */
  async function startXterm(record: SandboxRecord, options: string): Promise<void> {
    const started = await api.cockpit.controller.exec(record.id, {
      command: `setsid xterm -maximized -T marker ${options} -e cat >/dev/null 2>&1 </dev/null &`,
      env: { DISPLAY: ':1' },
      timeoutMs: PATIENCE_MS,
    });
    assert.equal(started.exitCode, 0, started.stderr);
    const shown = await api.cockpit.controller.exec(record.id, {
      command: ['xdotool', 'search', '--sync', '--onlyvisible', '--name', 'marker'],
      env: { DISPLAY: ':1' },
      timeoutMs: PATIENCE_MS,
    });
    assert.equal(shown.exitCode, 0, `the xterm did not show: ${shown.stderr}`);
  }

  before(async function () {
    this.timeout(IMAGE_BUILD_MS + 5 * PATIENCE_MS);
    api = await vscode.extensions.getExtension<SandboxesApi>(EXTENSION_ID)!.activate();
    // Built here when missing (never skipped): the same build as `sandbox image build --desktop`.
    const image = await api.cockpit.controller.buildImage({ desktop: true });
    note(`      desktop image ${image.tag}${image.built ? ` built in ${(image.durationMs / 1000).toFixed(0)} s` : ' found'}`);
    first = await createDesktop(`e2e-desk-a-${suffix}`);
    second = await createDesktop(`e2e-desk-b-${suffix}`);
    await api.cockpit.refresh();
  });

  after(async () => {
    for (const panel of api?.desktops.all() ?? []) panel.panel.dispose();
    for (const record of [first, second]) {
      if (record) await api.cockpit.controller.delete(record.id).catch(() => undefined);
    }
    await api?.cockpit.refresh();
  });

  it('tags a desktop sandbox in the tree, so its item offers Open Desktop', async () => {
    const groups = await api.tree.getChildren();
    const nodes = (await Promise.all(groups.map((group) => api.tree.getChildren(group)))).flat();
    const node = nodes.find((n): n is SandboxTreeNode & { kind: 'sandbox' } => n.kind === 'sandbox' && n.record.id === first.id);
    assert.ok(node, `${first.name} is not in the tree`);
    assert.equal(api.tree.getTreeItem(node).contextValue, 'sandbox+docker+running+terminal+desktop');
  });

  it('opens the desktop of a running desktop sandbox, and the viewer draws what the sandbox shows', async () => {
    const opened = performance.now();
    const panel = await vscode.commands.executeCommand<DesktopPanel>('sandboxes.openDesktop', first.name, { viewOnly: true });
    assert.ok(panel, 'Open Desktop returned no panel');
    assert.equal(panel.sandboxId, first.id);
    assert.equal(panel.panel.title, `${first.name}: desktop`);
    const status = await panel.waitForStatus((s) => s.state === 'connected', PATIENCE_MS);
    // For the record (bench/ holds the targets): Open Desktop until the viewer is connected.
    note(`      Open Desktop to a connected viewer: ${(performance.now() - opened).toFixed(0)} ms`);
    assert.deepEqual([status.width, status.height], [1024, 768]);
    assert.equal(status.viewOnly, true);
    // The desktop draws itself a few seconds after the sandbox starts: compare once it has
    // settled (two screenshots of the sandbox around the viewer's capture agree).
    let last = '';
    const { difference, colours } = await waitFor(
      async () => {
        const before = await captureDesktop(api.cockpit.controller, first.id);
        const shown = await viewerImage(panel);
        const frame = await captureDesktop(api.cockpit.controller, first.id);
        const settled = meanDifference(before, frame) < 0.5;
        const difference = meanDifference(shown, frame);
        const colours = distinctColours(shown);
        last = `${colours} colours, mean difference ${difference.toFixed(2)} from the sandbox's own screenshot${settled ? '' : ', still drawing'}`;
        return settled && colours >= 16 && difference < 10 ? { difference, colours } : undefined;
      },
      () => `the viewer to show the sandbox's desktop (last: ${last})`,
    );
    note(`      the viewer shows ${colours} colours; mean difference ${difference.toFixed(2)} of 255 from the sandbox's own screenshot`);
    assert.deepEqual(panel.refused, [], 'the Content Security Policy refused something');
  });

  it("keeps no eval and no remote source in the webview's Content Security Policy", () => {
    const panel = api.desktops.get(first.id);
    assert.ok(panel, 'the desktop panel is not open');
    const html = panel.panel.webview.html;
    const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html);
    assert.ok(meta, 'the page has no Content Security Policy');
    const policy = meta[1]!.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
    const directives = new Map(
      policy
        .split(';')
        .map((part) => part.trim().split(/\s+/))
        .filter((words) => words[0])
        .map(([name, ...sources]) => [name!, sources]),
    );
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.ok(!policy.includes('unsafe-eval'), policy);
    assert.ok(!policy.includes('unsafe-inline'), policy);
    const own = new Set(panel.panel.webview.cspSource.split(/\s+/));
    const nonce = /'nonce-([^']+)'/.exec(directives.get('script-src')?.join(' ') ?? '')?.[1];
    assert.ok(nonce, 'scripts are not limited to a nonce');
    assert.deepEqual(directives.get('script-src'), [`'nonce-${nonce}'`]);
    for (const [name, sources] of directives) {
      for (const source of sources) {
        const allowed = own.has(source) || ["'none'", `'nonce-${nonce}'`, 'data:', 'blob:'].includes(source);
        assert.ok(allowed, `${name} allows ${source}, which is neither the webview's own source nor local`);
      }
    }
    // Every script carries the nonce and comes from the extension; the only other one is inert JSON.
    const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((match) => match[1]!);
    assert.deepEqual(scripts.filter((attributes) => !attributes.includes('type="application/json"')).length, 1);
    for (const attributes of scripts.filter((a) => !a.includes('type="application/json"'))) {
      assert.ok(attributes.includes(`nonce="${nonce}"`), attributes);
      const src = /src="([^"]+)"/.exec(attributes)?.[1] ?? '';
      assert.ok(src.endsWith('/dist/viewer.js'), src);
    }
  });

  it('shows each sandbox its own desktop, and Open Desktop on the other brings its panel to the front', async () => {
    await startXterm(second, '-bg "#ff0000"');
    const firstPanel = api.desktops.get(first.id)!;
    const secondPanel = await vscode.commands.executeCommand<DesktopPanel>('sandboxes.openDesktop', second.name, { viewOnly: true });
    assert.notEqual(secondPanel, firstPanel);
    await secondPanel.waitForStatus((s) => s.state === 'connected', PATIENCE_MS);
    await waitFor(
      () => (secondPanel.panel.active ? true : undefined),
      () => `${second.name}'s panel to be in front`,
    );
    let red = 0;
    await waitFor(
      async () => {
        red = shareOfColour(await viewerImage(secondPanel), RED);
        return red > 0.5 ? true : undefined;
      },
      () => `${second.name}'s viewer to show its red xterm (red share ${red.toFixed(2)})`,
    );
    const firstRed = shareOfColour(await viewerImage(firstPanel), RED);
    assert.ok(firstRed < 0.05, `${first.name}'s viewer shows ${second.name}'s xterm (red share ${firstRed.toFixed(2)})`);

    // Open Desktop on a sandbox whose panel is open reveals that panel: no second one.
    const again = await vscode.commands.executeCommand<DesktopPanel>('sandboxes.openDesktop', first.name);
    assert.equal(again, firstPanel);
    await waitFor(
      () => (firstPanel.panel.active && !secondPanel.panel.active ? true : undefined),
      () => `${first.name}'s panel to come to the front`,
    );
    assert.equal(api.desktops.all().length, 2);
    // Both stay connected, each on its own desktop (the hidden one keeps its connection).
    assert.equal(secondPanel.status?.state, 'connected');
    assert.ok(shareOfColour(await viewerImage(secondPanel), RED) > 0.5, `${second.name}'s viewer lost its xterm`);
    assert.ok(shareOfColour(await viewerImage(firstPanel), RED) < 0.05);
  });

  it('switches view-only from the command, and the viewer follows', async () => {
    const panel = api.desktops.get(first.id)!;
    panel.panel.reveal();
    await waitFor(
      () => (panel.panel.active ? true : undefined),
      () => 'the panel to be in front',
    );
    assert.equal(panel.viewOnly, true);
    assert.equal(await vscode.commands.executeCommand('sandboxes.toggleViewOnly'), false);
    await panel.waitForStatus((s) => s.viewOnly === false, PATIENCE_MS);
    assert.equal(await vscode.commands.executeCommand('sandboxes.toggleViewOnly', first.name), true);
    await panel.waitForStatus((s) => s.viewOnly === true, PATIENCE_MS);
  });

  it('saves a screenshot of the desktop where asked', async () => {
    const target = path.join(settings.workspace, 'desktop-shot.png');
    const saved = await vscode.commands.executeCommand<string>('sandboxes.takeScreenshot', second.name, target);
    assert.equal(saved, target);
    const image = decodePng(readFileSync(target));
    assert.deepEqual([image.width, image.height], [1024, 768]);
    assert.ok(shareOfColour(image, RED) > 0.5, 'the screenshot does not show the red xterm');
  });

  it("gives a chat's screenshot tool the desktop as a PNG file it names", async () => {
    const result = await vscode.lm.invokeTool('sandbox_screenshot', { input: { sandbox: second.name }, toolInvocationToken: undefined });
    const text = result.content.map((part) => (part instanceof vscode.LanguageModelTextPart ? part.value : '')).join(' ');
    const file = /Saved the screenshot as (\/\S+\.png)\./.exec(text)?.[1];
    assert.ok(file, `no file named in: ${text}`);
    assert.match(text, new RegExp(`1024x768 desktop of ${second.name}\\.`));
    const image = decodePng(readFileSync(file));
    assert.deepEqual([image.width, image.height], [1024, 768]);
    assert.ok(shareOfColour(image, RED) > 0.5, 'the screenshot does not show the red xterm');
  });

  it('says the sandbox is stopped when it stops, and reconnects when it starts again', async () => {
    const panel = api.desktops.get(first.id)!;
    await vscode.commands.executeCommand('sandboxes.stop', first.name);
    const stopped = await panel.waitForStatus((s) => s.state === 'disconnected' && /is stopped/.test(s.message ?? ''), PATIENCE_MS);
    assert.equal(stopped.message, `${first.name} is stopped; start it to see its desktop again.`);
    await vscode.commands.executeCommand('sandboxes.start', first.name);
    await panel.waitForStatus((s) => s.state === 'connected', PATIENCE_MS);
    let colours = 0;
    await waitFor(
      async () => {
        colours = distinctColours(await viewerImage(panel));
        return colours >= 16 ? true : undefined;
      },
      () => `the desktop to be drawn again (${colours} colours)`,
    );
    assert.deepEqual(panel.refused, []);
  });
});
