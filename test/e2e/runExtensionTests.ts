import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, remoteUri, removeSandboxesOf, startCodeServer } from './codeServer';

/**
 * Runs test/e2e/suite inside the real extension host of code-server: the workbench is opened
 * with an extensionDevelopmentPath/extensionTestsPath payload, and the suite's exit code comes
 * back through window.codeAutomationExit.
 */
const SUITE_TIMEOUT_MS = 5 * 60 * 1000;
/** Two gated tasks, each judged in two more sandboxes (the change's and the base's): minutes on a busy machine. */
const GATES_SUITE_TIMEOUT_MS = 10 * 60 * 1000;
/** The desktop suite builds the desktop image first when it is missing (XFCE and Firefox: slow). */
const DESKTOP_SUITE_TIMEOUT_MS = 60 * 60 * 1000;

interface SuiteRun {
  files: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
}

const RUNS: SuiteRun[] = [
  {
    files: ['sandboxes.e2e.js', 'lmTools.e2e.js', 'ssh.e2e.js', 'sshHostTerminal.e2e.js', 'gates.e2e.js'],
    timeoutMs: SUITE_TIMEOUT_MS + GATES_SUITE_TIMEOUT_MS,
  },
  { files: ['desktop.e2e.js'], timeoutMs: DESKTOP_SUITE_TIMEOUT_MS },
  // Again with DOCKER_HOST on a socket nobody listens on: what a user without a running engine sees.
  { files: ['engineDown.e2e.js'], env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' }, timeoutMs: SUITE_TIMEOUT_MS },
];

/** SANDBOX_E2E_SUITES=a.e2e.js,b.e2e.js runs only those files (each in its own run as above); unset, all of them. */
function selectedRuns(): SuiteRun[] {
  const wanted = process.env.SANDBOX_E2E_SUITES?.split(',')
    .map((file) => file.trim())
    .filter(Boolean);
  if (!wanted?.length) return RUNS;
  const known = RUNS.flatMap((run) => run.files);
  const unknown = wanted.filter((file) => !known.includes(file));
  if (unknown.length > 0) throw new Error(`SANDBOX_E2E_SUITES names ${unknown.join(', ')}, which is no suite; the suites are ${known.join(', ')}.`);
  return RUNS.map((run) => ({ ...run, files: run.files.filter((file) => wanted.includes(file)) })).filter((run) => run.files.length > 0);
}

async function main(): Promise<number> {
  if (!existsSync(path.join(REPO_ROOT, 'dist/extension.js'))) throw new Error('dist/extension.js is missing; run `npm run build` first.');
  let exitCode = 0;
  // Every run runs, even after one failed.
  for (const run of selectedRuns()) {
    const code = await runSuite(run.files, run.env, run.timeoutMs);
    exitCode ||= code;
  }
  return exitCode;
}

async function runSuite(files: string[], env?: NodeJS.ProcessEnv, timeoutMs = SUITE_TIMEOUT_MS): Promise<number> {
  const started = Date.now();
  // The SSH config file Remote-SSH would read: a throwaway one, so the real ~/.ssh/config is never touched.
  const sshDir = mkdtempSync(path.join(os.tmpdir(), 'sandboxes-e2e-ssh-'));
  const userSshConfig = path.join(sshDir, 'config');
  const server = await startCodeServer({ env, settings: { 'remote.SSH.configFile': userSshConfig } }).catch((error: unknown) => {
    rmSync(sshDir, { recursive: true, force: true });
    throw error;
  });
  const report = path.join(server.home, 'report.txt');
  let exitCode = 1;
  let debugLog = () => '';
  try {
    const page = await server.newPage();
    const browserLog: string[] = [];
    page.on('console', (message) => browserLog.push(`[${message.type()}] ${message.text()}`));
    debugLog = () => browserLog.join('\n');
    const exited = new Promise<number>((resolve) => void page.exposeFunction('codeAutomationExit', (code: number) => resolve(code)));
    const timeout = new Promise<number>((_, reject) =>
      setTimeout(() => reject(new Error(`the suite did not finish within ${timeoutMs / 1000} s`)), timeoutMs).unref(),
    );
    const suite = path.join(REPO_ROOT, 'out/test/e2e/suite/index.js');
    // The suite reads these from a file: the extension host's environment is code-server's.
    writeFileSync(
      path.join(server.home, 'suite.json'),
      JSON.stringify({ report, files, repoRoot: REPO_ROOT, stateDir: server.stateDir, workspace: server.workspace, userSshConfig }),
    );
    await page.goto(
      server.workbenchUrl([
        ['extensionDevelopmentPath', remoteUri(server, REPO_ROOT)],
        ['extensionTestsPath', remoteUri(server, suite)],
      ]),
    );
    exitCode = await Promise.race([exited, timeout]);
  } catch (error) {
    console.error(`Extension tests could not run: ${(error as Error).message}`);
    console.error(server.log().slice(-4000));
  } finally {
    if (existsSync(report)) process.stdout.write(readFileSync(report, 'utf8'));
    else exitCode = exitCode || 1;
    if (exitCode !== 0 || process.env.E2E_DEBUG) {
      console.error(`--- browser console (last 6000 characters) ---\n${debugLog().slice(-6000)}`);
      console.error(`--- code-server log (last 4000 characters) ---\n${server.log().slice(-4000)}`);
    }
    removeSandboxesOf(server.stateDir);
    await server.stop();
    rmSync(sshDir, { recursive: true, force: true });
  }
  console.log(`extension-host tests (${files.join(', ')}): exit code ${exitCode}, ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
