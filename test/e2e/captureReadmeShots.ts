import { execFileSync } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, removeSandboxesOf, startCodeServer, type Page } from './codeServer';
import { toPng8 } from './png8';
import { clickMenuItem, runFromPalette, STEP_TIMEOUT_MS, waitForText } from './workbench';

/**
 * Not a test: remakes the screenshots of the extension's README (media/screenshot-*.png) in the
 * real workbench, with the extension from this folder and the images already built: a sandbox
 * with its terminal in the Sandboxes view, and a desktop sandbox in its panel. They are saved in
 * CSS pixels and 256 colours, to keep the .vsix within its budget. `npm run screenshots`.
 */
const MEDIA = path.join(REPO_ROOT, 'media');

async function main(): Promise<void> {
  // The packaged extension, as users see it (npm run package first).
  const server = await startCodeServer({
    vsix: path.join(REPO_ROOT, 'agent-sandboxes.vsix'),
    settings: { 'workbench.activityBar.location': 'default', 'workbench.colorTheme': 'Default Dark Modern', 'terminal.integrated.gpuAcceleration': 'off' },
  });
  const cli = (...args: string[]) => execFileSync(process.execPath, [path.join(REPO_ROOT, 'dist/cli.js'), ...args], { env: server.env, encoding: 'utf8' });
  let page: Page | undefined;
  try {
    cli('start', server.workspace, '--name', 'fix-login-bug', '--cpus', '1', '--memory', '1g');
    cli('start', '--desktop', '--name', 'browser-check');
    page = await server.newPage();
    // Smaller than the tests' pages: the .vsix carries these pictures.
    await page.setViewportSize({ width: 1120, height: 700 });
    await page.goto(server.workbenchUrl());
    await page.locator('.monaco-workbench').waitFor({ timeout: STEP_TIMEOUT_MS });
    await page.locator('.activitybar .action-item a[aria-label^="Sandboxes"]').first().click({ timeout: STEP_TIMEOUT_MS });
    const row = page.locator('.pane-body .monaco-list-row').filter({ hasText: 'fix-login-bug' });
    await row.locator('.codicon-vm-running').waitFor({ timeout: STEP_TIMEOUT_MS });

    await row.click({ button: 'right' });
    await clickMenuItem(page, 'Open Terminal');
    const terminal = page.locator('.terminal-wrapper.active .xterm-rows, .xterm .xterm-rows').first();
    await waitForText(terminal, /\$\s*$/m, 'a shell prompt');
    await page.keyboard.type('ls && python3 --version && node --version');
    await page.keyboard.press('Enter');
    await waitForText(terminal, /^v\d+\.\d+/m, "node's version");
    await row.click();
    await save(page, 'screenshot-sandboxes');

    // The desktop, with an xterm in front so there is something to see.
    cli('exec', 'browser-check', '--env', 'DISPLAY=:1', '--', 'sh', '-c', 'setsid xterm -geometry 90x24+120+90 -e top >/dev/null 2>&1 </dev/null &');
    const desktopRow = page.locator('.pane-body .monaco-list-row').filter({ hasText: 'browser-check' });
    await desktopRow.click();
    await desktopRow.hover();
    await desktopRow.locator('.action-label[aria-label="Open Desktop"]').click({ timeout: STEP_TIMEOUT_MS });
    const viewer = page.frameLocator('iframe.webview.ready').first().frameLocator('#active-frame');
    await viewer.locator('#screen canvas').waitFor({ timeout: STEP_TIMEOUT_MS });
    await runFromPalette(page, 'View: Hide Panel', 'Hide Panel'); // the terminal away, the desktop larger
    await page.locator('.part.statusbar').hover(); // no tooltip left over the view
    await page.waitForTimeout(3000);
    await save(page, 'screenshot-desktop');
  } finally {
    removeSandboxesOf(server.stateDir);
    await server.stop();
  }
}

/** A screenshot of the page in CSS pixels (half the test pages' device pixels) and 256 colours, as media/NAME.png. */
async function save(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(1000);
  const target = path.join(MEDIA, `${name}.png`);
  writeFileSync(target, toPng8(await page.screenshot({ path: `${target}.full.png`, scale: 'css' })));
  rmSync(`${target}.full.png`);
  console.log(`${path.relative(REPO_ROOT, target)}: ${(statSync(target).size / 1024).toFixed(0)} KiB`);
}

void main();
