import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A real VS Code for the end-to-end tests: code-server (VS Code's workbench and extension host,
 * installed by test/e2e/host/install.sh) on a loopback port, driven by Debian's Chromium through
 * playwright-core. Everything it writes goes to one throwaway folder.
 */

export const REPO_ROOT = path.resolve(__dirname, '../../..');
const HOST_DIR = path.join(REPO_ROOT, 'test/e2e/host');
const hostRequire = createRequire(path.join(HOST_DIR, 'package.json'));
const CHROMIUM = '/usr/bin/chromium';

/** The parts of playwright-core these tests use (its types live outside the extension's dependencies). */
export interface Page {
  goto(url: string, options?: { timeout?: number }): Promise<unknown>;
  reload(options?: { timeout?: number }): Promise<unknown>;
  setViewportSize(size: { width: number; height: number }): Promise<void>;
  exposeFunction(name: string, fn: (...args: never[]) => unknown): Promise<void>;
  screenshot(options: { path: string; fullPage?: boolean; scale?: 'css' | 'device' }): Promise<Buffer>;
  keyboard: { press(key: string): Promise<void>; type(text: string, options?: { delay?: number }): Promise<void> };
  locator(selector: string): Locator;
  frameLocator(selector: string): FrameLocator;
  getByRole(role: string, options?: { name?: string | RegExp; exact?: boolean }): Locator;
  waitForTimeout(ms: number): Promise<void>;
  /** Runs a JavaScript expression in the page; its value. */
  evaluate<R>(expression: string): Promise<R>;
  on(event: 'console', listener: (message: { type(): string; text(): string }) => void): void;
}
/** The document inside an iframe (a webview's frames, say). */
export interface FrameLocator {
  locator(selector: string): Locator;
  frameLocator(selector: string): FrameLocator;
  first(): FrameLocator;
}
export interface Locator {
  click(options?: { button?: 'left' | 'right'; timeout?: number; position?: { x: number; y: number } }): Promise<void>;
  hover(options?: { timeout?: number }): Promise<void>;
  getAttribute(name: string, options?: { timeout?: number }): Promise<string | null>;
  waitFor(options?: { state?: 'visible' | 'hidden' | 'attached' | 'detached'; timeout?: number }): Promise<void>;
  first(): Locator;
  filter(options: { hasText?: string | RegExp }): Locator;
  locator(selector: string): Locator;
  textContent(options?: { timeout?: number }): Promise<string | null>;
  innerText(options?: { timeout?: number }): Promise<string>;
  count(): Promise<number>;
  fill(value: string): Promise<void>;
  selectOption(value: string): Promise<string[]>;
  press(key: string): Promise<void>;
  screenshot(options: { path: string }): Promise<Buffer>;
  nth(index: number): Locator;
  /** Runs in the page with the element; here only for an image's natural width. */
  evaluate<R>(fn: (element: { naturalWidth: number }) => R): Promise<R>;
}
export interface Browser {
  newPage(options?: {
    viewport?: { width: number; height: number };
    deviceScaleFactor?: number;
  }): Promise<Page & { route(url: string, handler: (route: Route) => void): Promise<void> }>;
  close(): Promise<void>;
}
interface Route {
  request(): { url(): string };
  abort(): Promise<void>;
  continue(): Promise<void>;
}

/** Debian's Chromium, headless, its profile in `profileDir`. */
export async function launchChromium(profileDir: string): Promise<Browser> {
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

/** A page that may reach loopback (and data:, blob:) only: anything else is aborted. */
export async function loopbackPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 2 });
  await page.route('**/*', (route) => {
    const target = new URL(route.request().url());
    if (target.hostname === '127.0.0.1' || target.hostname === 'localhost' || target.protocol === 'data:' || target.protocol === 'blob:') void route.continue();
    else void route.abort();
  });
  return page;
}

export interface CodeServer {
  port: number;
  url: string;
  /** The throwaway folder: user data, the opened workspace, the sandboxes state dir. */
  home: string;
  workspace: string;
  stateDir: string;
  /** Where extensions are installed (a .vsix given to startCodeServer lands here). */
  extensionsDir: string;
  userDataDir: string;
  env: NodeJS.ProcessEnv;
  newPage(): Promise<Page>;
  /** The URL that opens the workspace, optionally with an extension-tests payload. */
  workbenchUrl(payload?: [string, string][]): string;
  log(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode} before answering`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`code-server did not answer ${url}/healthz within ${timeoutMs} ms`);
}

export interface CodeServerOptions {
  settings?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** A .vsix installed with `code-server --install-extension` before the server starts. */
  vsix?: string;
  /** The server's working folder (the throwaway folder by default). */
  cwd?: string;
}

export async function startCodeServer(options: CodeServerOptions = {}): Promise<CodeServer> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'sandboxes-e2e-'));
  const dirs = Object.fromEntries(
    ['user-data', 'extensions', 'config', 'data', 'cache', 'browser', 'workspace', 'state'].map((name) => [name, path.join(home, name)]),
  );
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  mkdirSync(path.join(dirs['user-data']!, 'User'), { recursive: true });
  writeFileSync(
    path.join(dirs['user-data']!, 'User', 'settings.json'),
    JSON.stringify({
      'telemetry.telemetryLevel': 'off',
      'workbench.startupEditor': 'none',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'update.mode': 'none',
      'workbench.tips.enabled': false,
      'security.workspace.trust.enabled': false,
      'terminal.integrated.enablePersistentSessions': false,
      ...options.settings,
    }),
  );
  writeFileSync(path.join(dirs.workspace!, 'hello.txt'), 'hello from the workspace\n');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = path.join(home, 'config.yaml');
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\ndisable-telemetry: true\ndisable-update-check: true\n`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_CONFIG_HOME: dirs.config,
    XDG_DATA_HOME: dirs.data,
    XDG_CACHE_HOME: dirs.cache,
    EXTENSIONS_GALLERY: JSON.stringify({ serviceUrl: 'http://127.0.0.1:9/gallery', itemUrl: 'http://127.0.0.1:9/item' }),
    AGENT_SANDBOXES_HOME: dirs.state,
    ...options.env,
  };
  let output = '';
  const entry = path.join(HOST_DIR, 'node_modules/code-server/out/node/entry.js');
  const cwd = options.cwd ?? home;
  const folders = ['--user-data-dir', dirs['user-data']!, '--extensions-dir', dirs.extensions!];
  if (options.vsix) {
    execFileSync(process.execPath, [entry, '--config', config, ...folders, '--install-extension', options.vsix], { env, cwd, stdio: 'pipe', timeout: 120_000 });
  }
  const args = [entry, '--config', config, ...folders, '--disable-workspace-trust', '--disable-getting-started-override', dirs.workspace!];
  const child = spawn(process.execPath, args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stopServer = async () => {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForHealth(url, child, 30000);
  } catch (error) {
    await stopServer();
    throw new Error(`${(error as Error).message}\n${output}`, { cause: error });
  }

  let browser: Browser | undefined;
  const server: CodeServer = {
    port,
    url,
    home,
    workspace: dirs.workspace!,
    stateDir: dirs.state!,
    extensionsDir: dirs.extensions!,
    userDataDir: dirs['user-data']!,
    env,
    async newPage() {
      browser ??= await launchChromium(dirs.browser!);
      return loopbackPage(browser);
    },
    workbenchUrl(payload) {
      const query = new URLSearchParams({ folder: dirs.workspace! });
      if (payload) query.set('payload', JSON.stringify(payload));
      return `${url}/?${query.toString()}`;
    },
    log: () => output,
    async stop() {
      await browser?.close().catch(() => undefined);
      await stopServer();
      rmSync(home, { recursive: true, force: true });
    },
  };
  return server;
}

/** A path of this machine as the workbench's remote file system names it. */
export function remoteUri(server: CodeServer, absolutePath: string): string {
  return `vscode-remote://127.0.0.1:${server.port}${absolutePath}`;
}

/** The owner id of a test's state dir, once something was made there. */
function ownerOf(stateDir: string): string | undefined {
  const ownerFile = path.join(stateDir, 'owner-id');
  return existsSync(ownerFile) ? readFileSync(ownerFile, 'utf8').trim() : undefined;
}

/** Ids of the containers a test's state dir owns. */
export function sandboxesOf(stateDir: string): string[] {
  const owner = ownerOf(stateDir);
  if (!owner) return [];
  return execFileSync('docker', ['ps', '-aq', '--filter', `label=dev.agent-sandboxes.owner=${owner}`], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
}

/**
 * Removes every container a test's state dir still owns, then its snapshots (images with its
 * owner label, as the gates keep them), so a failed test leaves nothing behind.
 */
export function removeSandboxesOf(stateDir: string): void {
  const ids = sandboxesOf(stateDir);
  if (ids.length > 0) {
    console.error(`removing ${ids.length} container(s) the test left behind`);
    execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
  }
  const owner = ownerOf(stateDir);
  if (!owner) return;
  const snapshots = execFileSync('docker', ['images', '-q', '--filter', `label=dev.agent-sandboxes.owner=${owner}`], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  if (snapshots.length > 0) {
    console.error(`removing ${snapshots.length} snapshot(s) the test left behind`);
    execFileSync('docker', ['rmi', '-f', ...new Set(snapshots)], { stdio: 'ignore' });
  }
}
