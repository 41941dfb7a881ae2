import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as vscode from 'vscode';
import type { SandboxRecord } from '../../../src/core/model';
import { fingerprint } from '../../../src/core/ssh/keys';
import type { SandboxesApi } from '../../../src/extension/extension';
import { suiteSettings } from './index';
import { openSandboxTerminal } from './terminal';

const run = promisify(execFile);
const settings = suiteSettings();

/** The CLI with a state dir: this run's (the extension's), or the stand-in host's own. */
async function cli(stateDir: string, ...args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, [path.join(settings.repoRoot, 'dist/cli.js'), ...args, '--json'], {
    env: { ...process.env, AGENT_SANDBOXES_HOME: stateDir },
  }).catch((error: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(`sandbox ${args.join(' ')}: ${error.stdout ?? ''}${error.stderr ?? ''}`);
  });
  return JSON.parse(stdout);
}

describe('Open Terminal on a sandbox of an SSH host', () => {
  // The user's machine is played by a sandbox container of another state dir: a real sshd on
  // 127.0.0.1 with a user account (agent) and no Docker, so its sandboxes are folders there.
  const standInState = path.join(path.dirname(settings.stateDir), 'stand-in-state');
  const suffix = process.pid.toString(36);
  const hostName = `e2e-host-${suffix}`;
  const name = `e2e-onhost-${suffix}`;
  let api: SandboxesApi;
  let sandbox: SandboxRecord;

  before(async () => {
    api = await vscode.extensions.getExtension<SandboxesApi>('agent-sandboxes.agent-sandboxes')!.activate();
    mkdirSync(standInState, { recursive: true });
    const standIn = (await cli(standInState, 'start', '--name', `e2e-standin-${suffix}`, '--cpus', '1', '--memory', '512m')) as SandboxRecord;
    const identity = path.join(standInState, 'ssh', 'keys', standIn.id);
    await cli(standInState, 'ssh-config', standIn.name); // returns once its sshd answers
    await cli(
      settings.stateDir,
      'host',
      'add',
      hostName,
      '--host',
      '127.0.0.1',
      '--port',
      String(standIn.ports['22']),
      '--user',
      'agent',
      '--identity',
      identity,
      '--fingerprint',
      fingerprint(standIn.ssh!.hostKey),
    );
    sandbox = (await cli(settings.stateDir, 'start', '--host', hostName, '--name', name)) as SandboxRecord;
    assert.equal(sandbox.placement?.kind, 'directory');
    await api.cockpit.refresh();
  });

  after(async () => {
    await cli(settings.stateDir, 'host', 'rm', hostName, '--force').catch(() => undefined);
    const standIns = ((await cli(standInState, 'list').catch(() => [])) as SandboxRecord[]).map((record) => record.id);
    if (standIns.length > 0) await cli(standInState, 'rm', ...standIns).catch(() => undefined);
    rmSync(standInState, { recursive: true, force: true });
  });

  it("lands in the sandbox's folder on the host, with its marker, through a PTY that follows resizes", async () => {
    const opened = await openSandboxTerminal(name);
    // Typed at once: keys sent before the shell is reached must not be lost.
    opened.terminal.sendText('echo "at=$(pwd)"; echo "marker=$AGENT_SANDBOX_ID"; echo "size=$(stty size)"; hostname');
    await opened.shows(new RegExp(`at=${sandbox.workdir}\\r\\nmarker=${sandbox.id}\\r\\nsize=\\d+ \\d+\\r\\ne2e-standin-${suffix}\\r\\n`));
    await opened.resizeTo(97, 31);
    opened.terminal.sendText('exit 5');
    assert.equal((await opened.ended)?.code, 5);
  });
});
