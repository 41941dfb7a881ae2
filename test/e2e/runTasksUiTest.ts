import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, remoteUri, removeSandboxesOf, startCodeServer, type CodeServer, type Locator, type Page } from './codeServer';
import { clickMenuItem, pickStep, runFromPalette, STEP_TIMEOUT_MS, waitForText, waitForValue } from './workbench';

/**
 * The Tasks view worked like a person, with a real scheduler: the view first says that none
 * runs, then notices the daemon started in the run's state dir through the CLI, limited to one
 * task at a time with a warm pool of one. Add Task from the palette (command line, priority, no
 * folder) queues a long task, which runs (Reveal Sandbox selects its sandbox); a second one waits
 * under Queued (the status bar counts 1 running, 1 queued); Cancel Task from the long one's menu
 * moves it to Cancelled, the second one runs and succeeds, Show Task Output shows what it
 * printed, and the pool's sandbox shows as warm in the Sandboxes view. Last, with that daemon
 * stopped, Start Scheduler from the palette starts one. The daemon is stopped and every sandbox
 * it made removed at the end. Screenshots go to test-results/ui-tasks/.
 */
const SHOTS = path.join(REPO_ROOT, 'test-results/ui-tasks');
const MARK = `hello-from-task-${process.pid.toString(36)}`;
const LONG_COMMAND = 'sleep 600';
/** Long enough for the view to show it running, short enough to wait for. */
const SHORT_COMMAND = `echo ${MARK}; sleep 4`;
/** A task's first sandbox may need the sandbox image built, and the pool made on a busy machine. */
const PLACEMENT_TIMEOUT_MS = 5 * 60_000;

async function main(): Promise<void> {
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  const started = Date.now();
  const server = await startCodeServer({ settings: { 'workbench.activityBar.location': 'default' } });
  let step = 0;
  let page: Page | undefined;
  const shot = async (what: string) => {
    const file = path.join(SHOTS, `${String(++step).padStart(2, '0')}-${what}.png`);
    await page!.waitForTimeout(300);
    await page!.screenshot({ path: file });
    console.log(`  ✔ ${what} (${file.slice(REPO_ROOT.length + 1)})`);
  };
  try {
    // One task at a time, so the second one waits; one warm sandbox, so a task finds one ready.
    writeFileSync(path.join(server.stateDir, 'tasks.json'), JSON.stringify({ limits: { global: 1 }, pools: { default: { size: 1, max: 2 } } }));

    page = await server.newPage();
    await page.goto(server.workbenchUrl([['extensionDevelopmentPath', remoteUri(server, REPO_ROOT)]]));
    await page.locator('.monaco-workbench').waitFor({ timeout: STEP_TIMEOUT_MS });
    await page.locator('.activitybar .action-item a[aria-label^="Sandboxes"]').first().click({ timeout: STEP_TIMEOUT_MS });
    // No scheduler yet: the Tasks view says so, with the button. One started by the CLI is noticed.
    const noScheduler = page.locator('.welcome-view-content').filter({ hasText: 'The scheduler is not running' });
    await noScheduler.waitFor({ timeout: STEP_TIMEOUT_MS });
    await noScheduler.locator('.monaco-button').filter({ hasText: 'Start Scheduler' }).first().waitFor({ timeout: STEP_TIMEOUT_MS });
    await shot('tasks-no-scheduler');
    console.log(`  ${cli(server, 'daemon', 'start').trim()}`);
    await page.locator('.welcome-view-content').filter({ hasText: 'No task yet' }).waitFor({ timeout: STEP_TIMEOUT_MS });
    await shot('tasks-empty');

    // The long task, from the palette through each step: it runs.
    await addTask(page, LONG_COMMAND);
    const longRow = taskRow(page, LONG_COMMAND);
    await longRow.waitFor({ timeout: STEP_TIMEOUT_MS });
    await stateIcon(longRow, 'sync').waitFor({ timeout: PLACEMENT_TIMEOUT_MS });
    await waitForText(longRow, /normal · \d+s · attempt 1\/2/, 'the long task with its priority, elapsed time and attempt');
    await shot('long-task-running');

    // Reveal Sandbox from its menu selects the pool sandbox it took, in the Sandboxes view.
    await longRow.click({ button: 'right' });
    await clickMenuItem(page, 'Reveal Sandbox');
    await page.locator('.pane-body .monaco-list-row.selected').filter({ hasText: 'pool, in use' }).first().waitFor({ timeout: STEP_TIMEOUT_MS });
    await shot('long-task-sandbox-revealed');

    // The short one waits behind it.
    await addTask(page, SHORT_COMMAND);
    const shortRow = taskRow(page, `echo ${MARK}`);
    await stateIcon(shortRow, 'clock').waitFor({ timeout: STEP_TIMEOUT_MS });
    await waitForText(shortRow, /normal · attempt 0\/2/, 'the queued task, not placed yet');
    await page
      .locator('.pane-body .monaco-list-row')
      .filter({ hasText: /^Queued/ })
      .first()
      .waitFor({ timeout: STEP_TIMEOUT_MS });
    await page.locator('.statusbar-item').filter({ hasText: '1 running · 1 queued' }).first().waitFor({ timeout: STEP_TIMEOUT_MS });
    await shot('short-task-queued');

    // Cancel the long one from its menu: it ends, and the short one is placed.
    await longRow.click({ button: 'right' });
    await clickMenuItem(page, 'Cancel Task');
    await stateIcon(longRow, 'circle-slash').waitFor({ timeout: STEP_TIMEOUT_MS });
    await page
      .locator('.pane-body .monaco-list-row')
      .filter({ hasText: /^Cancelled/ })
      .first()
      .waitFor({ timeout: STEP_TIMEOUT_MS });
    console.log('  ✔ Cancel Task moved the long task to Cancelled');
    await stateIcon(shortRow, 'sync').waitFor({ timeout: PLACEMENT_TIMEOUT_MS });
    await shot('short-task-running');
    await stateIcon(shortRow, 'pass').waitFor({ timeout: PLACEMENT_TIMEOUT_MS });
    await shot('short-task-succeeded');

    // Its output, from its menu.
    await shortRow.click({ button: 'right' });
    await clickMenuItem(page, 'Show Task Output');
    const output = page.locator('.part.panel .monaco-editor .view-lines').first();
    await waitForText(output, new RegExp(`^${MARK}$[\\s\\S]*\\[task succeeded, exit code 0\\]`, 'm'), `"${MARK}" and the end of the task in its output`);
    await shot('short-task-output');

    // The pool's sandbox, refilled after the tasks took theirs, shows as warm.
    const warmRow = page.locator('.pane-body .monaco-list-row').filter({ hasText: /warm · \d+ CPU/ });
    await warmRow.first().waitFor({ timeout: PLACEMENT_TIMEOUT_MS });
    await shot('pool-sandbox-warm');
    await page.locator('.statusbar-item').filter({ hasText: '0 running · 0 queued' }).first().waitFor({ timeout: STEP_TIMEOUT_MS });

    // Start Scheduler from the palette runs the extension's own CLI on the editor's runtime.
    console.log(`  ${cli(server, 'daemon', 'stop').trim()}`);
    await runFromPalette(page, 'Sandboxes: Start Scheduler', 'Start Scheduler');
    const status = await waitForValue(() => {
      // Exits 1 (a throw, so undefined here) while none runs.
      const parsed = JSON.parse(cli(server, 'daemon', 'status', '--json')) as { running: boolean; holder?: { pid: number } };
      return parsed.running ? parsed : undefined;
    }, 'the daemon started by Start Scheduler');
    console.log(`  ✔ Start Scheduler started the daemon (pid ${status.holder?.pid})`);
    console.log(`Tasks UI test passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${SHOTS.slice(REPO_ROOT.length + 1)}/`);
  } catch (error) {
    if (page) await page.screenshot({ path: path.join(SHOTS, 'failure.png') }).catch(() => undefined);
    console.error(`Tasks UI test failed at step ${step + 1}: ${(error as Error).stack ?? error}`);
    console.error(`--- code-server log ---\n${server.log().slice(-3000)}`);
    process.exitCode = 1;
  } finally {
    try {
      console.log(`  ${cli(server, 'daemon', 'stop').trim()}`);
    } catch (error) {
      console.error(`Could not stop the daemon: ${(error as Error).message}`);
      process.exitCode = 1;
    }
    removeSandboxesOf(server.stateDir);
    await server.stop();
  }
}

/** Add Task from the palette: the command line, the default priority, no folder pushed. */
async function addTask(page: Page, commandLine: string): Promise<void> {
  await runFromPalette(page, 'Sandboxes: Add Task', 'Add Task');
  await page.locator('.quick-input-widget').filter({ hasText: '(1/3)' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  await page.keyboard.type(commandLine);
  await page.keyboard.press('Enter');
  await pickStep(page, '(2/3)', 'normal');
  await page.keyboard.press('Enter');
  await pickStep(page, '(3/3)', 'No folder');
  await page.keyboard.type('No folder');
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget').filter({ hasText: '(3/3)' }).waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
}

/** The item's own icon (not an inline action's), which tells its state. */
function stateIcon(row: Locator, codicon: string): Locator {
  return row.locator(`.custom-view-tree-node-item-icon.codicon-${codicon}`);
}

function taskRow(page: Page, label: string) {
  return page.locator('.pane-body .monaco-list-row').filter({ hasText: label }).first();
}

/** The sandbox CLI on this run's state dir; its stdout. */
function cli(server: CodeServer, ...args: string[]): string {
  return execFileSync(process.execPath, [path.join(REPO_ROOT, 'dist/cli.js'), ...args], { env: server.env, encoding: 'utf8', timeout: 2 * STEP_TIMEOUT_MS });
}

void main();
