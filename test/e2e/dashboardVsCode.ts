import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { CollectorStore } from '../../src/core/collector/store';
import { REPO_ROOT, remoteUri, removeSandboxesOf, startCodeServer, type CodeServer, type FrameLocator, type Page } from './codeServer';
import { runFromPalette, STEP_TIMEOUT_MS, waitForValue } from './workbench';

/** A sandbox's first start may need the sandbox image built on a busy machine. */
const START_TIMEOUT_MS = 5 * 60_000;

function cli(server: CodeServer, ...args: string[]): string {
  return execFileSync(process.execPath, [path.join(REPO_ROOT, 'dist/cli.js'), ...args], { env: server.env, encoding: 'utf8', timeout: START_TIMEOUT_MS });
}

/** The dashboard's document: the webview's content frame inside its host frame. */
function dashboardFrame(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview.ready').first().frameLocator('#active-frame');
}

/**
 * Open Dashboard from code-server's palette shows the running sandbox (started with the CLI in
 * the run's state dir) as a card with its charts, drawn from samples in the collector's store.
 */
export async function dashboardInVsCode(shots: string): Promise<void> {
  const server = await startCodeServer({ settings: { 'workbench.activityBar.location': 'default' } });
  const name = `dash-vscode-${process.pid.toString(36)}`;
  let page: Page | undefined;
  try {
    const record = JSON.parse(cli(server, 'start', '--name', name, '--json')) as { id: string };
    // What the collector's sampler writes for it: a minute of samples up to now.
    const store = CollectorStore.openForWriting(server.stateDir);
    const now = Date.now();
    try {
      store.ingest({
        sandboxes: [{ sandboxId: record.id, name, provider: 'docker', firstSeen: now - 60_000, lastSeen: now }],
        samples: Array.from({ length: 12 }, (_, i) => ({
          sandboxId: record.id,
          time: now - (11 - i) * 5_000,
          cpuPercent: 3 + i,
          memoryBytes: 50e6 + i * 1e6,
          netRxBytes: i * 1000,
          netTxBytes: i * 500,
        })),
      });
    } finally {
      store.close();
    }

    page = await server.newPage();
    await page.goto(server.workbenchUrl([['extensionDevelopmentPath', remoteUri(server, REPO_ROOT)]]));
    await page.locator('.monaco-workbench').waitFor({ timeout: STEP_TIMEOUT_MS });
    // The extension's contributions are in once its view container shows.
    await page.locator('.activitybar .action-item a[aria-label^="Sandboxes"]').first().waitFor({ timeout: STEP_TIMEOUT_MS });
    await runFromPalette(page, 'Sandboxes: Open Dashboard', 'Open Dashboard');
    await page.locator('.tab').filter({ hasText: 'Sandboxes Dashboard' }).first().waitFor({ timeout: STEP_TIMEOUT_MS });
    const frame = dashboardFrame(page);
    const card = frame.locator(`.card[data-sandbox="${name}"]`);
    await card.waitFor({ timeout: STEP_TIMEOUT_MS });
    await card.locator('.chart[data-chart="cpu"] canvas').first().waitFor({ timeout: STEP_TIMEOUT_MS });
    const charts = await card.locator('.chart canvas').count();
    if (charts < 3) throw new Error(`the card of ${name} has ${charts} chart canvases, not 3`);
    const points = await waitForValue(async () => {
      const value = Number(await card.getAttribute('data-points', { timeout: 1000 }));
      return value >= 12 ? value : undefined;
    }, `the samples of ${name} in its charts`);
    const state = await card.locator('.meta').innerText();
    if (!/running/.test(state)) throw new Error(`the card of ${name} says ${JSON.stringify(state)}, not running`);
    await page.waitForTimeout(500);
    await page.screenshot({ path: path.join(shots, 'vscode-dashboard.png') });
    console.log(`  ✔ Open Dashboard shows ${name} running, with its charts (${points} points) (test-results/dashboard/vscode-dashboard.png)`);
  } catch (error) {
    if (page) await page.screenshot({ path: path.join(shots, 'vscode-failure.png') }).catch(() => undefined);
    console.error(`--- code-server log ---\n${server.log().slice(-3000)}`);
    throw error;
  } finally {
    try {
      cli(server, 'rm', name);
    } catch {
      // removed below
    }
    removeSandboxesOf(server.stateDir);
    await server.stop();
  }
}
