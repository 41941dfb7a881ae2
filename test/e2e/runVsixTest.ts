import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CollectorStore } from '../../src/core/collector/store';
import { REPO_ROOT, removeSandboxesOf, startCodeServer, type CodeServer, type Page } from './codeServer';
import { acceptStep, pickStep, runFromPalette, STEP_TIMEOUT_MS } from './workbench';

/**
 * The extension as a user meets it: the .vsix installed into a fresh code-server with
 * `--install-extension`, everything run from a folder outside the clone. Its page in the
 * Extensions view shows its icon and its own README, screenshots loaded. Start Sandbox from the
 * palette builds the sandbox image from the recipes inside the installed extension (under an
 * image namespace of this run's own, so the images in everyday use are never touched) and the
 * sandbox runs; Open Dashboard charts it from the collector's store. Install 'sandbox' Command in PATH writes ~/.local/bin/sandbox; a new login shell
 * runs `sandbox list --json` with it and sees that sandbox, and so does a shell with no Node.js
 * on PATH (on the editor's runtime); `sandbox rm` from the shell removes it; Remove takes the
 * launcher away again. The images this run tagged and its folder are removed at the end.
 * Screenshots go to test-results/vsix/.
 */
const SHOTS = path.join(REPO_ROOT, 'test-results/vsix');
const NAME = `vsix-${process.pid.toString(36)}`;
/** Images of this run only: <namespace>/sandbox, removed at the end. */
const NAMESPACE = `agent-sandboxes-vsix-${process.pid.toString(36)}`;
/** The image comes from the engine's build cache when the everyday image was built from the same recipe; a cold build takes minutes. */
const START_TIMEOUT_MS = 20 * 60_000;

async function main(vsixArgument: string): Promise<void> {
  const started = Date.now();
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  // Out of the clone's reach: the .vsix copied to a folder of its own, the server started there.
  const root = mkdtempSync(path.join(os.tmpdir(), 'sandboxes-vsix-'));
  const home = path.join(root, 'home');
  const localBin = path.join(home, '.local', 'bin');
  mkdirSync(home);
  // As Debian's /etc/skel/.profile: a login shell puts ~/.local/bin on PATH when it exists.
  writeFileSync(path.join(home, '.profile'), 'if [ -d "$HOME/.local/bin" ] ; then\n    PATH="$HOME/.local/bin:$PATH"\nfi\n');
  const vsix = path.join(root, 'agent-sandboxes.vsix');
  copyFileSync(path.resolve(vsixArgument), vsix);
  const stateDir = path.join(home, '.agent-sandboxes');
  const imagesBefore = everydayImages();

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
      vsix,
      cwd: root,
      settings: { 'workbench.activityBar.location': 'default' },
      env: { HOME: home, AGENT_SANDBOXES_HOME: stateDir, AGENT_SANDBOXES_IMAGE_NAMESPACE: NAMESPACE, PATH: `${localBin}:${process.env.PATH}` },
    });
    const installed = readdirSync(server.extensionsDir).filter((name) => name.startsWith('agent-sandboxes.agent-sandboxes-'));
    if (installed.length !== 1) throw new Error(`--install-extension left ${JSON.stringify(readdirSync(server.extensionsDir))} in the extensions folder`);
    const extensionDir = path.join(server.extensionsDir, installed[0]!);
    console.log(`  ✔ installed from the .vsix into ${extensionDir}`);

    page = await server.newPage();
    await page.goto(server.workbenchUrl());
    await page.locator('.monaco-workbench').waitFor({ timeout: STEP_TIMEOUT_MS });
    await extensionPage(page);
    await shot('extension-page');

    await page.locator('.activitybar .action-item a[aria-label^="Sandboxes"]').first().click({ timeout: STEP_TIMEOUT_MS });
    await page.locator('.welcome-view-content').filter({ hasText: 'No sandbox yet' }).waitFor({ timeout: STEP_TIMEOUT_MS });
    await shot('view-empty');

    // Start Sandbox: the image of this run's namespace is missing, so it is built first.
    await runFromPalette(page, 'Sandboxes: Start Sandbox', 'Start Sandbox');
    await pickStep(page, '(1/4)', 'Docker');
    await page.keyboard.press('Enter');
    await pickStep(page, '(2/4)', 'Small');
    await page.keyboard.type('Small');
    await page.keyboard.press('Enter');
    await pickStep(page, '(3/4)', 'workspace');
    await acceptStep(page, '(3/4)', '(4/4)');
    await page.keyboard.type(NAME);
    await page.keyboard.press('Enter');
    // The progress notification, unless the start is over before it is seen (the log below shows its steps).
    const progress = page.locator('.notifications-toasts .notification-toast').filter({ hasText: `Starting sandbox ${NAME}` });
    const row = page.locator('.pane-body .monaco-list-row').filter({ hasText: NAME });
    const running = row.locator('.codicon-vm-running');
    // Whichever comes first; the other's later timeout is nobody's failure.
    const quietly = (waiting: Promise<void>) => waiting.catch(() => undefined);
    await Promise.race([quietly(progress.waitFor({ timeout: STEP_TIMEOUT_MS })), quietly(running.waitFor({ timeout: STEP_TIMEOUT_MS }))]);
    if ((await progress.count()) > 0) await shot('starting-with-progress');
    await running.waitFor({ timeout: START_TIMEOUT_MS });
    await shot('sandbox-running');
    const built = builtFrom(server.userDataDir);
    const recipeDir = path.join(extensionDir, 'images', 'sandbox');
    if (!built.includes(`${NAMESPACE}/sandbox:`) || !built.includes(`from ${recipeDir},`)) {
      throw new Error(`the image was not built from the installed extension's recipe ${recipeDir}; the extension log says: ${JSON.stringify(built)}`);
    }
    console.log(`  ✔ the image was built from the recipe inside the installed extension: ${built}`);
    if (sandboxImageOf(stateDir, NAME)?.startsWith(`${NAMESPACE}/sandbox:`) !== true) throw new Error(`${NAME} does not run the image just built`);
    await dashboardFromPackage(page, stateDir);
    await shot('dashboard');

    // Install 'sandbox' Command in PATH, then a new login shell finds it.
    await runFromPalette(page, "Sandboxes: Install 'sandbox' Command", "Install 'sandbox' Command in PATH");
    const launcher = path.join(localBin, 'sandbox');
    await page
      .locator('.notifications-toasts .notification-toast')
      .filter({ hasText: `installed as ${launcher}` })
      .waitFor({ timeout: STEP_TIMEOUT_MS });
    await shot('command-installed');
    const mode = statSync(launcher).mode & 0o777;
    if (mode !== 0o755) throw new Error(`${launcher} has mode ${mode.toString(8)}, not 755`);
    if (!readFileSync(launcher, 'utf8').includes(`CLI='${path.join(extensionDir, 'dist', 'cli.js')}'`)) {
      throw new Error(`${launcher} does not run the installed extension's CLI:\n${readFileSync(launcher, 'utf8')}`);
    }
    const listed = JSON.parse(newShell(root, home, 'sandbox list --json')) as { name: string; state: string }[];
    if (!listed.some((sandbox) => sandbox.name === NAME && sandbox.state === 'running')) {
      throw new Error(`sandbox list --json in a new shell does not show ${NAME} running: ${JSON.stringify(listed)}`);
    }
    console.log(`  ✔ a new login shell runs \`sandbox list --json\` through ${launcher} and sees ${NAME} running`);
    // With no Node.js on PATH at all, the launcher runs the CLI on the editor's own runtime.
    const bare = spawnSync('/bin/sh', ['-c', 'sandbox list --json'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 2 * STEP_TIMEOUT_MS,
      env: { HOME: home, PATH: localBin },
    });
    if (bare.status !== 0 || !(JSON.parse(bare.stdout) as { name: string }[]).some((sandbox) => sandbox.name === NAME)) {
      throw new Error(`with no Node.js on PATH, sandbox list --json exited with ${bare.status}: ${bare.stderr}${bare.stdout}`);
    }
    console.log("  ✔ with no Node.js on PATH, the launcher runs the CLI on the editor's runtime");
    newShell(root, home, `sandbox rm ${NAME}`);
    await row.waitFor({ state: 'detached', timeout: STEP_TIMEOUT_MS });
    console.log(`  ✔ \`sandbox rm ${NAME}\` from that shell removed it, and the view followed`);

    await runFromPalette(page, "Sandboxes: Remove 'sandbox' Command", "Remove 'sandbox' Command from PATH");
    await page.locator('.notifications-toasts .notification-toast').filter({ hasText: "Removed the 'sandbox' command" }).waitFor({ timeout: STEP_TIMEOUT_MS });
    if (existsSync(launcher)) throw new Error(`${launcher} is still there after Remove 'sandbox' Command from PATH`);
    console.log(`  ✔ Remove 'sandbox' Command from PATH removed ${launcher}`);
    console.log(`.vsix test passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${SHOTS.slice(REPO_ROOT.length + 1)}/`);
  } catch (error) {
    if (page) await page.screenshot({ path: path.join(SHOTS, 'failure.png') }).catch(() => undefined);
    console.error(`.vsix test failed at step ${step + 1}: ${(error as Error).stack ?? error}`);
    if (server) console.error(`--- code-server log ---\n${server.log().slice(-3000)}`);
    process.exitCode = 1;
  } finally {
    removeSandboxesOf(stateDir);
    await server?.stop();
    removeNamespaceImages();
    rmSync(root, { recursive: true, force: true });
    // Other runs may add images meanwhile; none of those there before may be gone.
    const imagesAfter = new Set(everydayImages());
    const lost = imagesBefore.filter((image) => !imagesAfter.has(image));
    if (lost.length > 0) {
      console.error(`the test lost images it did not make: ${lost.join(', ')}`);
      process.exitCode = 1;
    }
  }
}

/**
 * The extension's page in the Extensions view, as a user first sees it: its icon, and the README
 * written for the extension with both screenshots shown (loaded, not broken).
 */
async function extensionPage(page: Page): Promise<void> {
  await page.locator('.activitybar .action-item a[aria-label^="Extensions"]').first().click({ timeout: STEP_TIMEOUT_MS });
  await page.locator('.extensions-viewlet .monaco-list-row').filter({ hasText: 'Agent Sandboxes' }).first().click({ timeout: STEP_TIMEOUT_MS });
  const readme = page.frameLocator('iframe.webview.ready').first().frameLocator('#active-frame');
  await readme.locator('h2').filter({ hasText: 'What it needs' }).waitFor({ timeout: STEP_TIMEOUT_MS });
  const pictures = readme.locator('img');
  const widths: number[] = [];
  for (let i = 0; i < (await pictures.count()); i++) widths.push(await pictures.nth(i).evaluate((image) => image.naturalWidth));
  if (widths.length !== 2 || widths.some((width) => width === 0))
    throw new Error(`the README should show two screenshots; their widths are ${JSON.stringify(widths)}`);
  const icon = await page.locator('.extension-editor .header img.icon').evaluate((image) => image.naturalWidth);
  if (icon !== 128) throw new Error(`the extension's icon is ${icon} px wide, not 128`);
  console.log(`  ✔ the Extensions view shows the extension's own README with both screenshots (${widths.join(', ')} px wide) and its 128 px icon`);
}

/** Runs a command line in a new login shell, as a user's new terminal would (HOME, a plain PATH); its stdout. */
function newShell(cwd: string, home: string, commandLine: string): string {
  const shell = spawnSync('bash', ['-lc', commandLine], {
    cwd,
    encoding: 'utf8',
    timeout: 2 * STEP_TIMEOUT_MS,
    env: {
      HOME: home,
      PATH: `${path.join(home, '.local', 'bin')}:/usr/local/bin:/usr/bin:/bin`,
      USER: os.userInfo().username,
      ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
    },
  });
  if (shell.status !== 0) throw new Error(`bash -lc '${commandLine}' exited with ${shell.status}: ${shell.stderr}`);
  return shell.stdout;
}

/** The extension log's line about the build's start: which tag, from which recipe folder. */
function builtFrom(userDataDir: string): string {
  const logs = findFiles(path.join(userDataDir, 'logs'), (name) => name.endsWith('Sandboxes.log'));
  for (const file of logs) {
    const line = readFileSync(file, 'utf8')
      .split('\n')
      .find((text) => text.includes('Starting the build:'));
    if (line) return line.slice(line.indexOf('Starting the build:'));
  }
  return `(no build in ${logs.join(', ') || 'any Sandboxes.log'})`;
}

function findFiles(dir: string, wanted: (name: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return findFiles(full, wanted);
    return wanted(entry.name) ? [full] : [];
  });
}

function sandboxImageOf(stateDir: string, name: string): string | undefined {
  return recordOf(stateDir, name)?.profile?.image;
}

function recordOf(stateDir: string, name: string): { id: string; name: string; profile?: { image?: string } } | undefined {
  const records = findFiles(path.join(stateDir), (file) => file.endsWith('.json'));
  for (const file of records) {
    try {
      const record = JSON.parse(readFileSync(file, 'utf8')) as { id: string; name?: string; profile?: { image?: string } };
      if (record.name === name) return { ...record, name };
    } catch {
      // not a record
    }
  }
  return undefined;
}

/**
 * Open Dashboard in the installed extension: its page (dist/dashboard.js) and the collector's
 * store, read by the installed core bundle through its own WebAssembly SQLite, show the sandbox's
 * samples written here.
 */
async function dashboardFromPackage(page: Page, stateDir: string): Promise<void> {
  const record = recordOf(stateDir, NAME);
  if (!record) throw new Error(`no record of ${NAME} in ${stateDir}`);
  const store = CollectorStore.openForWriting(stateDir);
  const now = Date.now();
  try {
    store.ingest({
      sandboxes: [{ sandboxId: record.id, name: NAME, provider: 'docker', firstSeen: now, lastSeen: now }],
      samples: [0, 1, 2].map((i) => ({ sandboxId: record.id, time: now - (2 - i) * 5_000, cpuPercent: i, memoryBytes: 1e6 })),
    });
  } finally {
    store.close();
  }
  await runFromPalette(page, 'Sandboxes: Open Dashboard', 'Open Dashboard');
  const dashboard = page.frameLocator('iframe.webview.ready').first().frameLocator('#active-frame');
  const card = dashboard.locator(`.card[data-sandbox="${NAME}"][data-points="3"]`);
  await card.waitFor({ timeout: STEP_TIMEOUT_MS });
  await card.locator('.chart[data-chart="cpu"] canvas').first().waitFor({ timeout: STEP_TIMEOUT_MS });
  console.log(`  ✔ Open Dashboard in the installed extension charts ${NAME} from the collector's store (its WebAssembly SQLite inside the .vsix)`);
}

/** The everyday sandbox and desktop images, each as "tag id": the test must leave every one in place. */
function everydayImages(): string[] {
  const filters = ['agent-sandboxes/sandbox', 'agent-sandboxes/desktop'].flatMap((repository) => ['--filter', `reference=${repository}`]);
  return execFileSync('docker', ['images', '--no-trunc', ...filters, '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
}

/**
 * Removes the tags of this run's namespace. A build served from the cache gives the very image
 * the everyday tag names, so each goes by its reference: that only untags an image another tag
 * still holds, and removes one that only this run made.
 */
function removeNamespaceImages(): void {
  const references = execFileSync('docker', ['images', '--filter', `reference=${NAMESPACE}/*`, '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  for (const reference of references) {
    const result = spawnSync('docker', ['rmi', reference], { encoding: 'utf8' });
    console.log(result.status === 0 ? `  removed ${reference}` : `  could not remove ${reference}: ${result.stderr.trim()}`);
  }
}

void main(process.argv[2] ?? path.join(REPO_ROOT, 'agent-sandboxes.vsix'));
