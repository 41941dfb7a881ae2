import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as vscode from 'vscode';
import type { SandboxRecord } from '../../../src/core/model';
import type { SandboxesApi } from '../../../src/extension/extension';
import type { SandboxTreeNode } from '../../../src/extension/views/sandboxTree';
import { note, suiteSettings } from './index';
import { openSandboxTerminal } from './terminal';

const run = promisify(execFile);
const EXTENSION_ID = 'agent-sandboxes.agent-sandboxes';
const settings = suiteSettings();

async function sandboxNodes(api: SandboxesApi): Promise<SandboxTreeNode[]> {
  const groups = await api.tree.getChildren();
  return (await Promise.all(groups.map((group) => api.tree.getChildren(group)))).flat();
}

async function cli(...args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, [path.join(settings.repoRoot, 'dist/cli.js'), ...args, '--json'], {
    env: { ...process.env, AGENT_SANDBOXES_HOME: settings.stateDir },
  });
  return JSON.parse(stdout);
}

/**
 * How long a view change may take: it waits on the engine's event, not on a clock, so the bound
 * is only there to end a test whose event never comes, even on a loaded 2-core machine.
 */
const VIEW_EVENT_BOUND_MS = 20_000;

/** Resolves once `check` holds after a change event of the view, or fails after `ms`: no refresh asked for. */
async function viewShows(api: SandboxesApi, check: (records: SandboxRecord[]) => boolean, ms: number): Promise<number> {
  const started = Date.now();
  if (check(api.cockpit.records)) return 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.dispose();
      reject(new Error(`the view did not update within ${ms} ms; it shows ${JSON.stringify(api.cockpit.records.map((r) => [r.name, r.state]))}`));
    }, ms);
    const subscription = api.cockpit.onDidChange(() => {
      if (!check(api.cockpit.records)) return;
      clearTimeout(timer);
      subscription.dispose();
      resolve(Date.now() - started);
    });
  });
}

describe('Agent Sandboxes in the VS Code extension host', () => {
  let api: SandboxesApi;
  const name = `e2e-${process.pid.toString(36)}`;

  // How long activation takes is printed here for the record; speed targets live in bench/.
  it('activates lazily, registering every contributed command', async () => {
    const extension = vscode.extensions.getExtension<SandboxesApi>(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is not loaded`);
    const wasActive = extension.isActive;
    const started = performance.now();
    api = await extension.activate();
    const total = performance.now() - started;
    note(
      `      activation: ${api.activationMs.toFixed(1)} ms in activate(), ${total.toFixed(1)} ms with loading the bundle${wasActive ? ' (was already active)' : ''}`,
    );
    const contributed = (extension.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const command of contributed) assert.ok(registered.has(command), `${command} is not registered`);
  });

  it('starts a sandbox with the workspace in it and shows it running in the tree', async () => {
    const record = await vscode.commands.executeCommand<SandboxRecord>('sandboxes.startSandbox', { name, cpus: 1, memory: 512 * 1024 ** 2 });
    assert.equal(record.name, name);
    assert.equal(record.state, 'running');
    const node = (await sandboxNodes(api)).find((n) => n.kind === 'sandbox' && n.record.id === record.id);
    assert.ok(node, 'the new sandbox is not in the tree');
    const item = api.tree.getTreeItem(node);
    assert.equal(item.label, name);
    assert.match(String(item.contextValue), /^sandbox\+docker\+running/);
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'vm-running');
    assert.match(String(item.description), /1 CPU · 512 MiB · up \d+s/);
  });

  it('runs a command in it and reads the pushed workspace back', async () => {
    const result = await vscode.commands.executeCommand<{ exitCode: number; stdout: string }>('sandboxes.runCommand', name, 'cat hello.txt; whoami; exit 3');
    assert.equal(result.exitCode, 3);
    assert.equal(result.stdout, 'hello from the workspace\nagent\n');
  });

  it('syncs the workspace in and pulls changes back, and copies the id', async () => {
    writeFileSync(path.join(settings.workspace, 'added.txt'), 'added later\n');
    const pushed = await vscode.commands.executeCommand<{ files: number }>('sandboxes.syncWorkspace', name, settings.workspace);
    assert.equal(pushed.files, 1);
    const result = await vscode.commands.executeCommand<{ stdout: string }>('sandboxes.runCommand', name, 'cat added.txt && echo made inside > made.txt');
    assert.equal(result.stdout, 'added later\n');
    await vscode.commands.executeCommand('sandboxes.pullChanges', name, settings.workspace);
    assert.equal(readFileSync(path.join(settings.workspace, 'made.txt'), 'utf8'), 'made inside\n');
    const id = await vscode.commands.executeCommand<string>('sandboxes.copyId', name);
    assert.equal(await vscode.env.clipboard.readText(), id);
    assert.equal(id, api.cockpit.records.find((r) => r.name === name)?.id);
  });

  it('opens an interactive shell with a TTY that follows resizes, through the Docker engine', async () => {
    const opened = await openSandboxTerminal(name);
    opened.terminal.sendText('echo "size=$(stty size)"; tty; echo "$AGENT_SANDBOX_ID:$(id -un)@$(pwd)"');
    // No marker: a local sandbox's terminal is the engine's exec, not an SSH login.
    await opened.shows(/size=\d+ \d+\r\n\/dev\/pts\/\d+\r\n:agent@\/home\/agent\/workspace\r\n/);
    await opened.resizeTo(132, 43);
    opened.terminal.sendText('exit 7');
    assert.equal((await opened.ended)?.code, 7);
  });

  it('shares one truth with the CLI', async () => {
    const listed = (await cli('list')) as { name: string; state: string }[];
    assert.deepEqual(
      listed.filter((s) => s.name === name).map((s) => s.state),
      ['running'],
    );
  });

  it('follows changes made outside VS Code through the engine events, without a refresh', async () => {
    const record = api.cockpit.records.find((r) => r.name === name)!;
    await run('docker', ['stop', '-t', '1', record.providerRef!]);
    const ms = await viewShows(api, (records) => records.find((r) => r.name === name)?.state === 'stopped', VIEW_EVENT_BOUND_MS);
    note(`      docker stop showed in the view after ${ms} ms`);
    await vscode.commands.executeCommand('sandboxes.start', name);
    assert.equal(api.cockpit.records.find((r) => r.name === name)?.state, 'running');
  });

  it('shows a sandbox started with the CLI as running, without a refresh', async () => {
    const other = `${name}-cli`;
    try {
      await cli('start', settings.workspace, '--name', other, '--cpus', '1', '--memory', '512m');
      const ms = await viewShows(api, (records) => records.find((r) => r.name === other)?.state === 'running', VIEW_EVENT_BOUND_MS);
      note(`      \`sandbox start\` showed in the view ${ms} ms after the CLI returned`);
    } finally {
      await cli('rm', other).catch(() => undefined);
    }
    await viewShows(api, (records) => !records.some((r) => r.name === other), VIEW_EVENT_BOUND_MS);
  });

  it('deletes it, and it is gone from the tree, the CLI and the engine', async () => {
    const record = api.cockpit.records.find((r) => r.name === name)!;
    const deleted = await vscode.commands.executeCommand<SandboxRecord[]>('sandboxes.delete', name, undefined, { confirmed: true });
    assert.deepEqual(
      deleted.map((r) => r.name),
      [name],
    );
    assert.ok(!(await sandboxNodes(api)).some((n) => n.kind === 'sandbox' && n.record.id === record.id));
    assert.ok(!((await cli('list')) as { name: string }[]).some((s) => s.name === name));
    const { stdout } = await run('docker', ['ps', '-aq', '--filter', `label=dev.agent-sandboxes.id=${record.id}`]);
    assert.equal(stdout.trim(), '');
  });
});
