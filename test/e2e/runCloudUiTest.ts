import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { plannedCreateUsd } from '../../src/core/cost/budget';
import { alertNoticeMarker } from '../../src/core/cost/alertNotices';
import { DEFAULT_TTL_MS } from '../../src/core/cost/ttl';
import type { CostAlertEvent } from '../../src/core/events/types';
import { startCloud } from '../doStandIn/harness';
import { REPO_ROOT, remoteUri, removeSandboxesOf, startCodeServer, type CodeServer, type Locator, type Page } from './codeServer';
import { clickMenuItem, pickStep, runFromPalette, STEP_TIMEOUT_MS, waitForText, waitForValue } from './workbench';

/**
 * A DigitalOcean sandbox worked like a person, against the stand-in cloud (test/doStandIn: the
 * stateful API behind Prism checking DigitalOcean's contract, each droplet a real machine booted
 * by cloud-init). Sign in to DigitalOcean from the palette: a wrong token is refused in one
 * sentence and nothing is stored; the right one is kept, and the daemon may use it (its 0600 file
 * appears). Start Sandbox on DigitalOcean: the region step lists regions with their slugs, the size
 * step lists sizes with their hourly prices, cheapest first, the GPU size marked; picking the GPU
 * size asks for its price to be confirmed, and saying no makes nothing. Then a small size: the
 * daemon is started for its time-to-live, the item shows its region and price per hour, its tooltip the cost so far and the time-to-live;
 * Open Terminal answers `echo hello`; Attach VS Code offers Remote-SSH as for a container;
 * Delete removes the droplet and its machine. The monthly budget setting reaches the state dir's
 * budget file. With a budget of about 1.2 times the droplet's cost, the daemon's alerts show as
 * one warning (the highest of the burst) with Show Cost and Set Budget; Show Cost shows what
 * `sandbox cost` prints; a window loaded anew shows no alert again. Sign out removes the token file when asked. The token is in no log and nowhere in
 * the state dir. Screenshots go to test-results/ui-cloud/.
 */
const SHOTS = path.join(REPO_ROOT, 'test-results/ui-cloud');
const NAME = `cloud-${process.pid.toString(36)}`;
const REGION = 'nyc3';
const SMALL_SIZE = 's-1vcpu-1gb';
/** The stand-in's price and disk of SMALL_SIZE (DigitalOcean's). */
const SMALL_SIZE_PRICE = { slug: SMALL_SIZE, usdPerHour: 0.00893, diskGb: 25 };
const GPU_SIZE = 'gpu-h100x1-80gb';
/** Create, boot (cloud-init in a container), first connection and host-key swap on a busy machine. */
const CREATE_TIMEOUT_MS = 5 * 60_000;

async function main(): Promise<void> {
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  const started = Date.now();
  const cloud = await startCloud({ bootDroplets: true, bootDelayMs: 500, actionDelayMs: 500 });
  console.log(`  stand-in cloud at ${cloud.apiUrl} (Prism in front) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  let server: CodeServer | undefined;
  let page: Page | undefined;
  let step = 0;
  const shot = async (what: string) => {
    const file = path.join(SHOTS, `${String(++step).padStart(2, '0')}-${what}.png`);
    await page!.waitForTimeout(500);
    await page!.screenshot({ path: file });
    console.log(`  ✔ ${what} (${file.slice(REPO_ROOT.length + 1)})`);
  };
  try {
    server = await startCodeServer({
      settings: { 'terminal.integrated.gpuAcceleration': 'off', 'workbench.activityBar.location': 'default', 'workbench.hover.delay': 300 },
      // The stand-in instead of api.digitalocean.com; a token from the environment would skip the sign-in.
      env: { AGENT_SANDBOXES_DIGITALOCEAN_URL: cloud.apiUrl, DIGITALOCEAN_TOKEN: undefined },
    });
    const tokenFile = path.join(server.stateDir, 'cloud', 'digitalocean-token');
    // The daemon a cloud create starts would keep a warm Docker sandbox by default: none here, so the view holds the droplet alone.
    writeFileSync(path.join(server.stateDir, 'tasks.json'), JSON.stringify({ pools: { default: { size: 0 } } }));
    page = await server.newPage();
    await page.goto(server.workbenchUrl([['extensionDevelopmentPath', remoteUri(server, REPO_ROOT)]]));
    await page.locator('.monaco-workbench').waitFor({ timeout: STEP_TIMEOUT_MS });
    await page.locator('.activitybar .action-item a[aria-label^="Sandboxes"]').first().click({ timeout: STEP_TIMEOUT_MS });
    await page.locator('.welcome-view-content').filter({ hasText: 'No sandbox yet' }).waitFor({ timeout: STEP_TIMEOUT_MS });

    // A wrong token: refused in one sentence, nothing stored.
    await signIn(page, `dop_v1_${'0'.repeat(64)}`);
    await toast(page, 'DigitalOcean refused that token, so nothing was stored').waitFor({ timeout: STEP_TIMEOUT_MS });
    await shot('sign-in-refused');
    if (existsSync(tokenFile)) throw new Error(`a refused token was written to ${tokenFile}`);
    await dismissToasts(page);

    // The right one: kept, and the daemon may use it (the prompt says why).
    await signIn(page, cloud.token);
    const daemonQuestion = dialog(page).filter({ hasText: 'May the background daemon use this token too?' });
    await daemonQuestion.waitFor({ timeout: STEP_TIMEOUT_MS });
    await waitForText(daemonQuestion, /budget and each cloud sandbox's time-to-live while VS Code is closed[\s\S]*\(0600\)/, 'why the daemon needs the token');
    await shot('sign-in-daemon-question');
    await dialogButton(daemonQuestion, 'Let the Daemon Use It').click();
    await daemonQuestion.waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
    await waitForValue(() => (existsSync(tokenFile) ? true : undefined), `the token file ${tokenFile}`);
    if ((statSync(tokenFile).mode & 0o777) !== 0o600) throw new Error(`${tokenFile} has mode ${(statSync(tokenFile).mode & 0o777).toString(8)}, not 600`);
    if (readFileSync(tokenFile, 'utf8').trim() !== cloud.token) throw new Error(`${tokenFile} does not hold the token signed in with`);
    console.log('  ✔ the token is kept, and written 0600 for the daemon once allowed');

    // Start Sandbox on DigitalOcean: regions with slugs, sizes with prices, the GPU size marked.
    await runFromPalette(page, 'Sandboxes: Start Sandbox', 'Start Sandbox');
    await pickStep(page, '(1/4)', 'DigitalOcean');
    await page.keyboard.type('DigitalOcean');
    await shot('step-provider');
    await page.keyboard.press('Enter');
    await pickStep(page, '(2/6)', REGION);
    await waitForText(quickPick(page, '(2/6)'), /New York 3\s*nyc3/, 'the region with its slug');
    await page.keyboard.type(REGION);
    await shot('step-region');
    await page.keyboard.press('Enter');
    await pickStep(page, '(3/6)', SMALL_SIZE);
    const sizes = await waitForText(
      quickPick(page, '(3/6)'),
      new RegExp(`${SMALL_SIZE}: 1 vCPU, 1 GB, \\$0\\.00893/h \\(about \\$0\\.21 a day\\)[\\s\\S]*GPU ${GPU_SIZE}: .*\\$3\\.39/h`),
      'the sizes with their hourly prices, the GPU size marked',
    );
    if (sizes.indexOf(SMALL_SIZE) > sizes.indexOf('s-2vcpu-4gb')) throw new Error('the sizes are not cheapest first');
    await shot('step-size');

    // The GPU size asks for its price first; saying no makes nothing.
    await page.keyboard.type(GPU_SIZE);
    await page.keyboard.press('Enter');
    const gpuQuestion = dialog(page).filter({ hasText: 'This is a GPU size' });
    await gpuQuestion.waitFor({ timeout: STEP_TIMEOUT_MS });
    await waitForText(gpuQuestion, /\$3\.39\/h \(about \$81\.36 a day\)/, 'the GPU size price in the question');
    await shot('gpu-confirmation');
    await dialogButton(gpuQuestion, 'Cancel').click();
    await gpuQuestion.waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
    await page.waitForTimeout(1000);
    const afterGpu = cloud.standIn.state.droplets({});
    if (afterGpu.length > 0) throw new Error(`declining the GPU price left ${afterGpu.length} droplet(s)`);
    console.log('  ✔ declining the GPU size price made nothing');

    // A budget of about 1.2 times what the small droplet commits for its time-to-live: its create
    // fits, and the budget alerts are due as soon as the daemon it starts looks.
    const plannedUsd = plannedCreateUsd({ sandbox: NAME, size: SMALL_SIZE_PRICE, ttlMs: DEFAULT_TTL_MS, reserveGb: SMALL_SIZE_PRICE.diskGb }, Date.now());
    const budgetUsd = Math.ceil(plannedUsd * 1.2 * 100) / 100;
    // Set as a person does in VS Code: the machine setting, which the extension writes to the state dir's budget file.
    const machineSettings = path.join(server.userDataDir, 'Machine', 'settings.json');
    const budgetFile = path.join(server.stateDir, 'cost', 'budget.json');
    mkdirSync(path.dirname(machineSettings), { recursive: true });
    writeFileSync(machineSettings, JSON.stringify({ 'sandboxes.cloud.monthlyBudgetUsd': budgetUsd }));
    await waitForValue(
      () => (existsSync(budgetFile) && (JSON.parse(readFileSync(budgetFile, 'utf8')) as { monthlyUsd?: number }).monthlyUsd === budgetUsd ? true : undefined),
      `a monthly budget of ${budgetUsd} in ${budgetFile}`,
    );

    // Now the small size, no folder, a name.
    await runFromPalette(page, 'Sandboxes: Start Sandbox', 'Start Sandbox');
    await pickStep(page, '(1/4)', 'DigitalOcean');
    await page.keyboard.type('DigitalOcean');
    await page.keyboard.press('Enter');
    await pickStep(page, '(2/6)', REGION);
    await page.keyboard.type(REGION);
    await page.keyboard.press('Enter');
    await pickStep(page, '(3/6)', SMALL_SIZE);
    await page.keyboard.type(SMALL_SIZE);
    await page.keyboard.press('Enter');
    await pickStep(page, '(4/6)', 'No desktop');
    await waitForText(quickPick(page, '(4/6)'), /Desktop\s*XFCE 1280x800/, 'the desktop choice');
    await page.keyboard.type('No desktop');
    await page.keyboard.press('Enter');
    await pickStep(page, '(5/6)', 'No folder');
    await page.keyboard.type('No folder');
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget').filter({ hasText: '(6/6)' }).waitFor({ timeout: STEP_TIMEOUT_MS });
    await page.keyboard.type(NAME);
    await page.keyboard.press('Enter');

    // The item: running, with its region and price per hour; its tooltip the cost so far and the time-to-live.
    const row = page.locator('.pane-body .monaco-list-row').filter({ hasText: NAME });
    await row.locator('.codicon-vm-running').waitFor({ timeout: CREATE_TIMEOUT_MS });
    await waitForText(row, new RegExp(`${NAME}\\s*${REGION} · \\$0\\.00893/h · (up \\d|running)`), 'the region and price per hour in the description');
    const droplets = cloud.standIn.state.droplets({});
    if (droplets.length !== 1) throw new Error(`expected one droplet, the stand-in has ${droplets.length}`);
    await shot('item-running');
    // The daemon that ends it at its time-to-live runs, started by the create.
    await waitForValue(() => {
      const status = JSON.parse(cli(server!, 'daemon', 'status', '--json')) as { running: boolean };
      return status.running ? true : undefined;
    }, 'the daemon started by the cloud create');
    console.log('  ✔ the cloud create started the daemon');

    // The daemon's first check fires the alerts due (one burst): the window warns of the highest only, with Show Cost and Set Budget.
    const fired = await waitForValue(() => {
      const alerts = costAlerts(server!.stateDir);
      return alerts.length > 0 ? alerts : undefined;
    }, 'the budget alerts fired by the daemon');
    const highest = fired.reduce((best, alert) => (alert.percent > best.percent ? alert : best));
    const warning = toast(page, highest.message.slice(0, 60));
    await warning.waitFor({ timeout: STEP_TIMEOUT_MS });
    await waitForText(warning, /Show Cost[\s\S]*Set Budget/, 'the Show Cost and Set Budget buttons of the budget warning');
    await shot('budget-warning');
    await page.waitForTimeout(1500);
    if ((await budgetToasts(page).count()) !== 1) throw new Error(`expected one budget warning, ${await budgetToasts(page).count()} show`);
    console.log(`  ✔ the ${highest.percent}% alert shows once (fired: ${fired.map((alert) => `${alert.percent}%`).join(', ')}), with Show Cost and Set Budget`);

    // Show Cost: what `sandbox cost` prints, in its own output channel.
    await dialogButton(warning, 'Show Cost').click();
    const costOutput = page.locator('.part.panel .monaco-editor .view-lines').first();
    const budgetText = `$${budgetUsd.toFixed(2)}`;
    const report = await waitForText(
      costOutput,
      new RegExp(`Budget \\${budgetText}: .* spent[\\s\\S]*${NAME}`),
      'the cost report in the Sandboxes Cost output',
    );
    if (!report.includes(`Alerts fired this month: ${fired.map((alert) => `${alert.percent}%`).join(', ')}.`))
      throw new Error(`the report does not name the alerts fired: ${report}`);
    await shot('show-cost');
    console.log('  ✔ Show Cost shows the report of `sandbox cost`');

    // Shown once per state dir: a new window (the page loaded again) shows none of these alerts again.
    for (const alert of fired) {
      if (!existsSync(alertNoticeMarker(server.stateDir, alert.month, alert.percent))) throw new Error(`the ${alert.percent}% alert is not marked as shown`);
    }
    await page.reload();
    await page.locator('.monaco-workbench').waitFor({ timeout: STEP_TIMEOUT_MS });
    // The view comes back open; if not, open it (the extension is active once it lists the droplet).
    await row
      .locator('.codicon-vm-running')
      .waitFor({ timeout: 20_000 })
      .catch(() => page!.locator('.activitybar .action-item a[aria-label^="Sandboxes"]').first().click({ timeout: STEP_TIMEOUT_MS }));
    await row.locator('.codicon-vm-running').waitFor({ timeout: STEP_TIMEOUT_MS });
    await page.waitForTimeout(5000);
    if ((await budgetToasts(page).count()) !== 0) throw new Error('a budget alert was shown again after the window was loaded anew');
    await shot('no-alert-twice');
    console.log('  ✔ no budget alert shows twice (a new window shows none of them)');
    await tooltipOf(page, row, NAME, /cost so far: \$0\.01[\s\S]*time-to-live: \d+h( \d+m)? left/, 'the cost so far and the time-to-live in the tooltip');
    await shot('item-tooltip');
    await page.keyboard.press('Escape');

    // Its terminal, over SSH to the droplet: type a command and read the answer.
    await row.click({ button: 'right' });
    await clickMenuItem(page, 'Open Terminal');
    const terminal = page.locator('.terminal-wrapper.active .xterm-rows, .xterm .xterm-rows').first();
    await terminal.waitFor({ timeout: STEP_TIMEOUT_MS });
    await waitForText(terminal, /\$\s*$/m, 'a shell prompt');
    await page.keyboard.type('echo hello');
    await page.keyboard.press('Enter');
    await waitForText(terminal, /^hello\s*$/m, '"hello" on a line of its own');
    await shot('terminal-hello');

    // Attach VS Code, as for a container: code-server has no Remote-SSH extension, so the open-source one is offered.
    await row.click({ button: 'right' });
    await clickMenuItem(page, 'Attach VS Code');
    await toast(page, 'Open Remote - SSH').waitFor({ timeout: STEP_TIMEOUT_MS });
    await shot('attach-offers-remote-ssh');
    await dismissToasts(page);

    // Delete: the droplet and its machine are gone.
    await row.click({ button: 'right' });
    await clickMenuItem(page, 'Delete...');
    const deleteDialog = dialog(page);
    await deleteDialog.waitFor({ timeout: STEP_TIMEOUT_MS });
    await shot('delete-confirmation');
    await dialogButton(deleteDialog, 'Delete').click();
    await row.waitFor({ state: 'detached', timeout: STEP_TIMEOUT_MS });
    await waitForValue(() => (cloud.standIn.state.droplets({}).length === 0 ? true : undefined), 'the droplet deleted at the stand-in');
    await waitForValue(async () => ((await cloud.containers()).length === 0 ? true : undefined), "the droplet's machine removed");
    await shot('deleted');

    // The monthly budget setting reaches the state dir's budget file, which the CLI and the daemon read.
    // It is a machine setting: in code-server's remote window, the Machine settings hold it.
    writeFileSync(machineSettings, JSON.stringify({ 'sandboxes.cloud.monthlyBudgetUsd': 75 }));
    await waitForValue(
      () => (existsSync(budgetFile) && (JSON.parse(readFileSync(budgetFile, 'utf8')) as { monthlyUsd?: number }).monthlyUsd === 75 ? true : undefined),
      `a monthly budget of 75 in ${budgetFile}`,
    );
    console.log('  ✔ the monthly budget setting was written to the state dir');

    // Sign out, removing the daemon's file too.
    await runFromPalette(page, 'Sandboxes: Sign out of DigitalOcean', 'Sign out of DigitalOcean');
    const removeQuestion = dialog(page).filter({ hasText: 'Also remove the token file' });
    await removeQuestion.waitFor({ timeout: STEP_TIMEOUT_MS });
    await dialogButton(removeQuestion, 'Remove the File').click();
    await toast(page, 'Signed out of DigitalOcean.').waitFor({ timeout: STEP_TIMEOUT_MS });
    if (existsSync(tokenFile)) throw new Error(`${tokenFile} is still there after sign-out`);
    await shot('signed-out');

    // The token is in no log, record, journal or event of the run (its file is gone with the sign-out).
    const leaks = [...filesHolding(path.join(server.userDataDir, 'logs'), cloud.token), ...filesHolding(server.stateDir, cloud.token)];
    if (leaks.length > 0) throw new Error(`the token is written in ${leaks.join(', ')}`);
    if (server.log().includes(cloud.token)) throw new Error("the token is in code-server's output");
    if (cloud.standIn.internalErrors.length > 0) throw new Error(`the stand-in failed: ${cloud.standIn.internalErrors.join('; ')}`);
    if (cloud.machines && cloud.machines.failures.length > 0) throw new Error(`a droplet machine failed: ${cloud.machines.failures.join('; ')}`);
    console.log(`Cloud UI test passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${SHOTS.slice(REPO_ROOT.length + 1)}/`);
  } catch (error) {
    if (page) await page.screenshot({ path: path.join(SHOTS, 'failure.png') }).catch(() => undefined);
    console.error(`Cloud UI test failed at step ${step + 1}: ${(error as Error).stack ?? error}`);
    if (server) console.error(`--- code-server log ---\n${server.log().slice(-3000)}`);
    console.error(`--- stand-in requests ---\n${cloud.standIn.requests.slice(-40).join('\n')}`);
    process.exitCode = 1;
  } finally {
    if (server) {
      // The daemon the cloud create started outlives the window: stop it.
      try {
        cli(server, 'daemon', 'stop');
      } catch {
        // none ran
      }
      removeSandboxesOf(server.stateDir);
      await server.stop();
    }
    // Stops Prism and the stand-in, and removes every droplet machine of this run.
    await cloud.close();
  }
}

/** The sandbox CLI on this run's state dir; its stdout. */
function cli(server: CodeServer, ...args: string[]): string {
  return execFileSync(process.execPath, [path.join(REPO_ROOT, 'dist/cli.js'), ...args], { env: server.env, encoding: 'utf8', timeout: 2 * STEP_TIMEOUT_MS });
}

/** Sign in to DigitalOcean from the palette, the token typed into the password box. */
async function signIn(page: Page, token: string): Promise<void> {
  await runFromPalette(page, 'Sandboxes: Sign in to DigitalOcean', 'Sign in to DigitalOcean');
  const box = page.locator('.quick-input-widget').filter({ hasText: 'Sign in to DigitalOcean' });
  await box.waitFor({ timeout: STEP_TIMEOUT_MS });
  if ((await box.locator('input').first().getAttribute('type')) !== 'password') throw new Error('the token box does not hide what is typed');
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
}

/**
 * The tooltip of a tree row once it matches `pattern`. A hover shows only when the pointer
 * arrives, and goes when the view redraws: the pointer comes again from the first row (the
 * provider's group) until it shows.
 */
async function tooltipOf(page: Page, row: Locator, name: string, pattern: RegExp, what: string): Promise<string> {
  const tooltip = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: name }).first();
  return waitForValue(async () => {
    await page.locator('.pane-body .monaco-list-row').first().hover();
    await page.waitForTimeout(300);
    await row.hover();
    return waitForText(tooltip, pattern, what, 5000);
  }, what);
}

function quickPick(page: Page, stepMark: string): Locator {
  return page.locator('.quick-input-widget').filter({ hasText: stepMark });
}

function toast(page: Page, text: string): Locator {
  return page.locator('.notifications-toasts .notification-toast').filter({ hasText: text }).first();
}

async function dismissToasts(page: Page): Promise<void> {
  await runFromPalette(page, 'Notifications: Clear All Notifications', 'Clear All Notifications');
}

/** The budget warnings showing now. */
function budgetToasts(page: Page): Locator {
  return page.locator('.notifications-toasts .notification-toast').filter({ hasText: "this month's" });
}

/** The `cost.alert` events of the state dir's event log. */
function costAlerts(stateDir: string): CostAlertEvent[] {
  const file = path.join(stateDir, 'events.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"cost.alert"'))
    .map((line) => JSON.parse(line) as CostAlertEvent);
}

function dialog(page: Page): Locator {
  return page.locator('.monaco-dialog-box');
}

function dialogButton(box: Locator, label: string): Locator {
  return box
    .locator('a.monaco-button, .monaco-button')
    .filter({ hasText: new RegExp(`^${label}$`) })
    .first();
}

/** Files under `dir` whose text holds `secret`. */
function filesHolding(dir: string, secret: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((file) => path.join(dir, file))
    .filter((file) => statSync(file).isFile() && readFileSync(file, 'utf8').includes(secret));
}

void main();
