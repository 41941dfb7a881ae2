import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExecResult, SandboxRecord } from '../../../src/core/model';
import type { PortForward } from '../../../src/core/ssh/forward';
import { readSshInclude, removeSshInclude } from '../../../src/core/ssh/userConfig';
import type { SshIntegrationChange } from '../../../src/extension/sshIntegration';
import type { SandboxesApi } from '../../../src/extension/extension';
import type { ForwardNode, SandboxTreeNode } from '../../../src/extension/views/sandboxTree';
import { suiteSettings } from './index';

const EXTENSION_ID = 'agent-sandboxes.agent-sandboxes';
const settings = suiteSettings();
/** Only a bound for a failing test to end: nothing here measures how long anything takes. */
const PATIENCE_MS = 60_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: PATIENCE_MS }, (error, stdout, stderr) => {
      const code: unknown = error ? (error as { code?: unknown }).code : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = await Promise.resolve(probe()).catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A user's own SSH config, with the things our edit must keep: CRLF lines, a non-UTF-8 byte, no final line break. */
const USER_CONFIG = Buffer.concat([
  Buffer.from('# my hosts\r\nHost *\r\n  ServerAliveInterval 60\r\n\r\nHost work\r\n  HostName work.example.invalid\r\n  # caf', 'latin1'),
  Buffer.from([0xe9]),
  Buffer.from('\r\n  User me', 'latin1'),
]);

describe('SSH, Remote-SSH and forwarded ports from the VS Code extension host', () => {
  let api: SandboxesApi;
  let record: SandboxRecord;
  const name = `e2e-ssh-${process.pid.toString(36)}`;
  const alias = `sandbox-${name}`;
  const userConfig = settings.userSshConfig;

  async function sandboxNode(): Promise<SandboxTreeNode & { kind: 'sandbox' }> {
    const groups = await api.tree.getChildren();
    const nodes = (await Promise.all(groups.map((group) => api.tree.getChildren(group)))).flat();
    const node = nodes.find((n) => n.kind === 'sandbox' && n.record.name === name);
    assert.ok(node && node.kind === 'sandbox', `${name} is not in the tree`);
    return node;
  }

  async function forwardNodes(): Promise<ForwardNode[]> {
    return (await api.tree.getChildren(await sandboxNode())).filter((node): node is ForwardNode => node.kind === 'forward');
  }

  function closed(forward: PortForward): Promise<void> {
    return forward.active ? new Promise((resolve) => forward.once('close', () => resolve())) : Promise.resolve();
  }

  before(async () => {
    api = await vscode.extensions.getExtension<SandboxesApi>(EXTENSION_ID)!.activate();
    // Everything below may edit the file Remote-SSH reads: it must be this run's throwaway one.
    assert.equal(vscode.workspace.getConfiguration('remote.SSH').get('configFile'), userConfig);
    assert.ok(userConfig.startsWith(os.tmpdir()) && userConfig !== path.join(os.homedir(), '.ssh', 'config'), userConfig);
    writeFileSync(userConfig, USER_CONFIG);
    record = await vscode.commands.executeCommand<SandboxRecord>('sandboxes.startSandbox', { name, cpus: 1, memory: 512 * 1024 ** 2, folder: null });
    assert.equal(record.state, 'running');
  });

  after(async () => {
    if (api?.cockpit.records.some((r) => r.name === name)) await vscode.commands.executeCommand('sandboxes.delete', name, undefined, { confirmed: true });
  });

  it('offers to install Open Remote - SSH when no Remote-SSH extension is installed, and edits nothing', async () => {
    assert.equal(api.attachSeams.installedRemoteSsh(), undefined, 'this code-server has a Remote-SSH extension after all');
    const uri = await vscode.commands.executeCommand<vscode.Uri | undefined>('sandboxes.attachVsCode', name);
    assert.equal(uri, undefined);
    assert.deepEqual(api.cockpit.lastNotification, {
      severity: 'warning',
      message:
        'Opening a sandbox in a VS Code window needs the Open Remote - SSH extension (jeanp413.open-remote-ssh), which is not installed; install it, then attach again.',
      actions: ['Install', 'Show in Extensions'],
    });
    assert.deepEqual(readFileSync(userConfig), USER_CONFIG);
  });

  it('copies an SSH command that logs in to the sandbox with OpenSSH', async () => {
    const text = await vscode.commands.executeCommand<string>('sandboxes.copySshCommand', name);
    assert.equal(await vscode.env.clipboard.readText(), text);
    assert.equal(text, `ssh -F ${path.join(settings.stateDir, 'ssh', 'config')} ${alias}`);
    const login = await run('sh', ['-c', `${text} -o BatchMode=yes true`]);
    assert.equal(login.code, 0, login.stderr);
    const whoami = await run('sh', ['-c', `${text} -o BatchMode=yes 'id -un; pwd'`]);
    assert.equal(whoami.stdout, 'agent\n/home/agent\n', whoami.stderr);
  });

  it('adds the Include to the SSH config Remote-SSH reads, which then finds the sandbox, and removes it byte for byte', async () => {
    const added = await vscode.commands.executeCommand<SshIntegrationChange>('sandboxes.addSshIntegration');
    assert.deepEqual(added, { userConfig, configFile: path.join(settings.stateDir, 'ssh', 'config'), changed: true });
    assert.match(api.cockpit.lastNotification?.message ?? '', /now includes the sandboxes' SSH config/);
    const edited = readFileSync(userConfig);
    assert.ok(edited.subarray(edited.length - USER_CONFIG.length).equals(USER_CONFIG), 'the user config lost some of its bytes');
    assert.equal(await readSshInclude(userConfig), added.configFile);
    // What Remote-SSH does with the alias: OpenSSH with the user's config, which now reaches ours.
    const login = await run('ssh', ['-F', userConfig, '-o', 'BatchMode=yes', alias, 'id -un']);
    assert.equal(login.stdout, 'agent\n', login.stderr);

    const removed = await vscode.commands.executeCommand<SshIntegrationChange>('sandboxes.removeSshIntegration');
    assert.equal(removed.changed, true);
    assert.match(api.cockpit.lastNotification?.message ?? '', /^Removed the sandboxes' Include from /);
    assert.deepEqual(readFileSync(userConfig), USER_CONFIG);
    const again = await vscode.commands.executeCommand<SshIntegrationChange>('sandboxes.removeSshIntegration');
    assert.equal(again.changed, false);
    assert.deepEqual(readFileSync(userConfig), USER_CONFIG);
  });

  it('attaches VS Code: opens vscode-remote://ssh-remote+sandbox-NAME/home/agent/workspace, re-adding the Include it had consent for', async () => {
    // Consent through the explicit command; then the Include is taken out by hand, as a user might.
    await vscode.commands.executeCommand('sandboxes.addSshIntegration');
    await removeSshInclude(userConfig);
    assert.deepEqual(readFileSync(userConfig), USER_CONFIG);

    const original = { ...api.attachSeams };
    const opened: vscode.Uri[] = [];
    // code-server has no Remote-SSH: stand in for its presence, and watch the window it would open.
    api.attachSeams.installedRemoteSsh = () => 'jeanp413.open-remote-ssh';
    api.attachSeams.openFolder = async (uri) => opened.push(uri);
    let uri: vscode.Uri | undefined;
    try {
      uri = await vscode.commands.executeCommand<vscode.Uri>('sandboxes.attachVsCode', name);
    } finally {
      Object.assign(api.attachSeams, original);
    }
    assert.equal(opened.length, 1);
    assert.equal(opened[0], uri);
    assert.equal(opened[0]!.toString(true), `vscode-remote://ssh-remote+${alias}/home/agent/workspace`);
    assert.deepEqual([opened[0]!.scheme, opened[0]!.authority, opened[0]!.path], ['vscode-remote', `ssh-remote+${alias}`, '/home/agent/workspace']);
    assert.equal(await readSshInclude(userConfig), path.join(settings.stateDir, 'ssh', 'config'));
    const login = await run('ssh', ['-F', userConfig, '-o', 'BatchMode=yes', alias, 'true']);
    assert.equal(login.code, 0, login.stderr);

    await vscode.commands.executeCommand('sandboxes.removeSshIntegration');
    assert.deepEqual(readFileSync(userConfig), USER_CONFIG);
  });

  it('opens a terminal running the real ssh client, in the workspace of the sandbox', async () => {
    const terminal = await vscode.commands.executeCommand<vscode.Terminal>('sandboxes.openSshTerminal', name);
    assert.equal(terminal.name, `SSH: ${name}`);
    assert.equal((terminal.creationOptions as vscode.TerminalOptions).shellPath, 'ssh');
    const ended = new Promise<vscode.TerminalExitStatus | undefined>((resolve) => {
      const subscription = vscode.window.onDidCloseTerminal((closedTerminal) => {
        if (closedTerminal !== terminal) return;
        subscription.dispose();
        resolve(closedTerminal.exitStatus);
      });
    });
    await terminal.processId;
    terminal.sendText('pwd > from-ssh-terminal.txt; echo "$SSH_CONNECTION" >> from-ssh-terminal.txt; exit 7');
    const status = await ended;
    assert.equal(status?.code, 7, 'the remote shell exit code comes back through ssh');
    const result = await vscode.commands.executeCommand<ExecResult>('sandboxes.runCommand', name, 'cat from-ssh-terminal.txt');
    const [cwd, connection] = result.stdout.split('\n');
    assert.equal(cwd, '/home/agent/workspace');
    assert.match(connection ?? '', /^\S+ \d+ \S+ 22$/, 'the shell ran in an SSH session');
  });

  it('forwards a port: its item shows under the sandbox, it serves the HTTP of python3 -m http.server inside, and Stop Forwarding removes it', async () => {
    await vscode.commands.executeCommand(
      'sandboxes.runCommand',
      name,
      'echo served from inside > index.html; python3 -m http.server 8765 --bind 127.0.0.1 >/dev/null 2>&1 &',
    );
    const forward = await vscode.commands.executeCommand<PortForward>('sandboxes.forwardPort', name, 8765);
    assert.equal(forward.remotePort, 8765);
    assert.equal(forward.url, `http://127.0.0.1:${forward.localPort}/`);

    const [node, ...others] = await forwardNodes();
    assert.ok(node, 'no forwarded port under the sandbox');
    assert.equal(others.length, 0);
    const item = api.tree.getTreeItem(node);
    assert.equal(item.label, `8765 → 127.0.0.1:${forward.localPort}`);
    assert.equal(item.contextValue, 'forward+active');
    assert.equal(api.tree.getTreeItem(await sandboxNode()).collapsibleState, vscode.TreeItemCollapsibleState.Expanded);
    assert.deepEqual(api.tree.getParent(node), { kind: 'sandbox', record: api.cockpit.records.find((r) => r.name === name) });

    // The server may still be starting: ask until it answers.
    const body = await waitFor(async () => {
      const response = await fetch(forward.url);
      return response.ok ? response.text() : undefined;
    }, `an answer from ${forward.url}`);
    assert.equal(body, 'served from inside\n');
    assert.equal(await vscode.commands.executeCommand<boolean>('sandboxes.openForwardedPort', node), true);

    const stopped = await vscode.commands.executeCommand<PortForward>('sandboxes.stopForwarding', node);
    assert.equal(stopped, forward);
    assert.equal(forward.active, false);
    assert.deepEqual(await forwardNodes(), []);
    assert.equal(api.tree.getTreeItem(await sandboxNode()).collapsibleState, vscode.TreeItemCollapsibleState.None);
    await assert.rejects(fetch(forward.url), 'the local port still answers after Stop Forwarding');
  });

  it('stops forwarding when the sandbox is stopped outside VS Code, learnt from the engine events', async () => {
    const forward = await vscode.commands.executeCommand<PortForward>('sandboxes.forwardPort', name, 8765);
    assert.equal((await forwardNodes()).length, 1);
    await run('docker', ['stop', '-t', '1', record.providerRef!]);
    await closed(forward);
    assert.equal(api.cockpit.records.find((r) => r.name === name)?.state, 'stopped');
    assert.deepEqual(await forwardNodes(), []);
    await assert.rejects(fetch(forward.url));
    await vscode.commands.executeCommand('sandboxes.start', name);
  });

  it('closes the forwarded ports of a sandbox deleted through the view', async () => {
    const forward = await vscode.commands.executeCommand<PortForward>('sandboxes.forwardPort', name, 8765);
    assert.equal(forward.active, true);
    await vscode.commands.executeCommand('sandboxes.delete', name, undefined, { confirmed: true });
    assert.equal(forward.active, false);
    assert.deepEqual(api.cockpit.controller.forwards(), []);
    assert.ok(!existsSync(path.join(settings.stateDir, 'sandboxes', `${record.id}.json`)));
    assert.doesNotMatch(readFileSync(path.join(settings.stateDir, 'ssh', 'config'), 'utf8'), new RegExp(`Host ${alias}$`, 'm'));
  });
});
