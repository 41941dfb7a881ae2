import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { SandboxController } from '../../src/core/controller';
import { isSandboxError } from '../../src/core/errors';
import type { SandboxRecord } from '../../src/core/model';
import { DockerProvider } from '../../src/core/providers/docker';
import { CLI, TestEnvironment, docker, ensureImage, rootExec, runProgram, tempDir, uniqueName } from './helpers';

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function connectable(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  });
}

describe('SSH into sandboxes', function () {
  const env = new TestEnvironment();
  const provider = new DockerProvider({ execChannel: 'docker' });
  // Fast keepalives so a silent drop (a paused sandbox) is noticed within a test's patience.
  const controller = new SandboxController({
    store: env.store,
    providers: { docker: provider },
    execChannel: 'ssh',
    ssh: { keepaliveIntervalMs: 500, keepaliveCountMax: 4 },
  });
  let sandbox: SandboxRecord;
  let configFile: string;
  let alias: string;
  let masterPid = 0;

  before(async function () {
    await ensureImage();
    sandbox = await controller.create({ name: uniqueName('ssh') });
    ({ configFile, alias } = await controller.sshTarget(sandbox.id));
  });
  after(async () => {
    controller.dispose();
    await env.dispose();
  });

  const ssh = (...args: string[]) => runProgram('ssh', ['-F', configFile, '-o', 'BatchMode=yes', ...args]);

  it("lets OpenSSH's own client log in with our config and nothing else", async function () {
    const login = await ssh(alias, 'id -un; echo "$SSH_CONNECTION" | cut -d" " -f3');
    assert.equal(login.code, 0, login.stderr);
    assert.equal(login.stdout.split('\n')[0], 'agent');
    const config = await fs.readFile(configFile, 'utf8');
    assert.match(config, new RegExp(`^Host ${alias}$`, 'm'));
    assert.match(config, /^ {2}StrictHostKeyChecking yes$/m);
    assert.match(config, new RegExp(`^  Port ${sandbox.ports['22']}$`, 'm'));
    for (const file of [configFile, env.store.knownHostsPath, env.store.clientKeyPath(sandbox.id)]) {
      assert.equal((await fs.stat(file)).mode & 0o777, 0o600, `${file} is 0600`);
    }
    // The pinned key is the sandbox's real one: compare with what the engine's API shows.
    const served = (await rootExec(sandbox.providerRef!, 'cat /etc/ssh/ssh_host_ed25519_key.pub')).split(' ').slice(0, 2).join(' ');
    assert.ok((await fs.readFile(env.store.knownHostsPath, 'utf8')).includes(served));

    // Only our key, only the agent user, only public keys: asked of sshd itself, on connections of their own.
    assert.equal((await ssh('-o', 'ControlPath=none', '-o', 'User=root', alias, 'true')).code, 255);
    assert.equal((await ssh('-o', 'ControlPath=none', '-o', 'PreferredAuthentications=password,keyboard-interactive', alias, 'true')).code, 255);
    const stranger = path.join(tempDir('ssh-stranger-'), 'key');
    assert.equal((await runProgram('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger])).code, 0);
    const strangerConfig = `${stranger}.config`;
    await fs.writeFile(strangerConfig, (await fs.readFile(configFile, 'utf8')).replace(/^ {2}IdentityFile .*$/gm, `  IdentityFile ${stranger}`));
    const strangerLogin = await runProgram('ssh', ['-F', strangerConfig, '-o', 'BatchMode=yes', '-o', 'ControlPath=none', alias, 'true']);
    assert.equal(strangerLogin.code, 255, 'another key is refused');
  });

  it('runs `sandbox ssh NAME -- CMD` with the command status, and prints the command with --json', async function () {
    const result = await env.cli(['ssh', sandbox.name, '--', 'echo', 'over-ssh;', 'exit', '3']);
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stdout, 'over-ssh\n');
    const printed = JSON.parse((await env.cli(['ssh', sandbox.name, '--json'])).stdout);
    assert.deepEqual(printed.command, ['ssh', '-F', configFile, alias]);
  });

  it('keeps one connection for many commands, twenty at once', async function () {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => controller.exec(sandbox.id, { command: `sleep 0.2; echo ${i}` })));
    assert.deepEqual(
      results.map((r) => r.stdout.trim()),
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    // sshd runs two processes per connection: "sshd: agent [priv]" and "sshd: agent@notty". OpenSSH's
    // shared connection from the tests above is not this client's.
    await ssh('-O', 'exit', alias);
    await waitFor(
      async () => ((await rootExec(sandbox.providerRef!, "ps -eo args | grep -c '^sshd: agent@' || true")).trim() === '1' ? true : undefined),
      'one connection',
    );
    const connections = await rootExec(sandbox.providerRef!, "ps -eo args | grep -c '^sshd: agent@' || true");
    assert.equal(connections.trim(), '1', 'one connection for this client');
  });

  it('forwards a local port to a web server inside the sandbox, and closes it on request', async function () {
    await controller.exec(sandbox.id, {
      command:
        'mkdir -p /tmp/www && echo "hello from inside" > /tmp/www/index.html && (setsid python3 -m http.server 8765 --bind 127.0.0.1 --directory /tmp/www > /dev/null 2>&1 &)',
    });
    await waitFor(
      async () => ((await controller.exec(sandbox.id, { command: 'curl -sf http://127.0.0.1:8765/' })).exitCode === 0 ? true : undefined),
      'the web server',
    );
    const forward = await controller.forward(sandbox.id, 8765);
    assert.match(forward.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(forward.url);
    assert.equal(await page.text(), 'hello from inside\n');
    assert.deepEqual(controller.forwards(sandbox.id), [forward]);
    forward.close();
    assert.deepEqual(controller.forwards(sandbox.id), []);
    await assert.rejects(fetch(forward.url));

    const badLocal = await env.cli(['forward', sandbox.name, '8765', '--local', '70000']);
    assert.equal(badLocal.code, 2, badLocal.stderr);
    assert.match(badLocal.stderr, /70000 is not a port; give a number from 1 to 65535\./);

    // The CLI's forward runs until Ctrl-C.
    const child = spawn(process.execPath, [CLI, 'forward', sandbox.name, '8765', '--json'], { env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir } });
    const line = await new Promise<string>((resolve, reject) => {
      let text = '';
      child.stdout.on('data', (chunk) => {
        text += chunk;
        if (text.includes('}')) resolve(text);
      });
      child.on('exit', (code) => reject(new Error(`forward exited ${code}`)));
    });
    const described = JSON.parse(line) as { url: string; localPort: number };
    assert.equal(await (await fetch(described.url)).text(), 'hello from inside\n');
    child.kill('SIGINT');
    assert.equal(await new Promise((resolve) => child.on('exit', resolve)), 0);
  });

  it('says the connection was lost when it drops mid-command, and reconnects for the next one', async function () {
    // 1. The sandbox's sshd process for our connection dies.
    const running = controller.exec(sandbox.id, { command: 'sleep 31' });
    running.catch(() => undefined); // asserted below
    await waitFor(async () => ((await rootExec(sandbox.providerRef!, 'pgrep -f "^sleep 31" || true')).trim() ? true : undefined), 'the command');
    await rootExec(sandbox.providerRef!, "for pid in $(ps -eo pid,args | awk '$2 ~ /^sshd:/ && $3 ~ /^agent/ {print $1}'); do kill $pid; done");
    await assert.rejects(running, (error: unknown) => isSandboxError(error, 'connection-lost') && /lost/.test(error.message));
    assert.equal((await controller.exec(sandbox.id, { command: 'echo back' })).stdout, 'back\n');
    // What the cut-off command left running is stopped once connected again.
    await waitFor(
      async () => ((await rootExec(sandbox.providerRef!, 'pgrep -f "^sleep 31" || true')).trim() === '' ? true : undefined),
      'the orphan to be killed',
    );

    // 2. The sandbox freezes (paused): only keepalives can tell.
    const frozen = controller.exec(sandbox.id, { command: 'sleep 32' });
    frozen.catch(() => undefined); // asserted below
    await waitFor(async () => ((await rootExec(sandbox.providerRef!, 'pgrep -f "^sleep 32" || true')).trim() ? true : undefined), 'the command');
    await docker.getContainer(sandbox.providerRef!).pause();
    try {
      const started = Date.now();
      await assert.rejects(frozen, (error: unknown) => isSandboxError(error, 'connection-lost'));
      assert.ok(Date.now() - started < 10_000, 'noticed by keepalive');
    } finally {
      await docker.getContainer(sandbox.providerRef!).unpause();
    }
    assert.equal((await controller.exec(sandbox.id, { command: 'echo thawed' })).stdout, 'thawed\n');

    // 3. The sandbox restarts under a running command (its SSH port may change). A restart
    // outside Agent Sandboxes holds it until `sandbox start` puts its network rules back.
    const restarted = controller.exec(sandbox.id, { command: 'sleep 33' });
    restarted.catch(() => undefined); // asserted below
    await waitFor(async () => ((await rootExec(sandbox.providerRef!, 'pgrep -f "^sleep 33" || true')).trim() ? true : undefined), 'the command');
    await docker.getContainer(sandbox.providerRef!).restart({ t: 1 });
    await assert.rejects(restarted, (error: unknown) => isSandboxError(error, 'connection-lost'));
    await controller.start(sandbox.id);
    assert.equal((await controller.exec(sandbox.id, { command: 'echo restarted' })).stdout, 'restarted\n');
    sandbox = await controller.status(sandbox.id);
  });

  it('shares one OpenSSH connection per sandbox beside an attach-shaped session', async function () {
    for (const call of ['first', 'second']) {
      const run = await ssh(alias, `echo ${call}`);
      assert.equal(run.stdout, `${call}\n`, run.stderr);
    }
    const check = await ssh('-O', 'check', alias);
    assert.equal(check.code, 0, check.stderr);
    const master = Number(/pid=(\d+)/.exec(check.stderr)?.[1]);
    assert.ok(master > 0, check.stderr);
    const logins = Number(await rootExec(sandbox.providerRef!, "ps -eo args | grep -c '^sshd: agent@' || true"));
    // Remote-SSH's shape: a session with a dynamic forward and a shell on stdin, beside the shared one.
    const socksPort = await freePort();
    const attach = spawn('ssh', ['-F', configFile, '-o', 'BatchMode=yes', '-T', '-D', `127.0.0.1:${socksPort}`, alias, 'bash'], { stdio: 'pipe' });
    let attachOut = '';
    attach.stdout.on('data', (chunk: Buffer) => (attachOut += chunk.toString()));
    attach.stdin.write('echo attach-ready\n');
    await waitFor(async () => (attachOut.includes('attach-ready') ? true : undefined), 'the attach-shaped session');
    assert.equal((await ssh(alias, 'echo beside')).stdout, 'beside\n');
    await waitFor(() => connectable(socksPort), 'the dynamic forward');
    attach.stdin.end('echo attach-done\n');
    const attachCode = await new Promise<number | null>((resolve) => attach.on('close', resolve));
    assert.equal(attachCode, 0);
    assert.match(attachOut, /attach-done/);
    assert.equal(Number(await rootExec(sandbox.providerRef!, "ps -eo args | grep -c '^sshd: agent@' || true")), logins, 'every call rode the one connection');
    assert.equal((await ssh('-O', 'check', alias)).code, 0, 'the master outlives its clients');
    // Another user never rides the agent's connection.
    assert.equal((await ssh('-o', 'User=root', alias, 'true')).code, 255);
    masterPid = master;
  });

  it('leaves no OpenSSH master behind after `sandbox rm`', async function () {
    const socketsBefore = await fs.readdir(env.store.sshControlDir);
    const other = await controller.create({ name: uniqueName('ssh-mux') });
    const target = await controller.sshTarget(other.id);
    for (let call = 0; call < 2; call += 1) assert.equal((await ssh(target.alias, 'true')).code, 0);
    const check = await ssh('-O', 'check', target.alias);
    const master = Number(/pid=(\d+)/.exec(check.stderr)?.[1]);
    assert.ok(master > 0, check.stderr);
    assert.equal((await fs.readdir(env.store.sshControlDir)).length, socketsBefore.length + 1);
    const removed = await env.cli(['rm', other.name]);
    assert.equal(removed.code, 0, removed.stderr);
    await waitFor(async () => (isAlive(master) ? undefined : true), 'the master to exit with the sandbox', 5000);
    assert.deepEqual(await fs.readdir(env.store.sshControlDir), socketsBefore, 'its control socket is gone');
  });

  it('installs and removes one Include in a user SSH config, leaving its lines byte for byte', async function () {
    const home = tempDir('ssh-home-');
    const userConfig = path.join(home, 'config');
    const original = 'Host other\r\n  HostName 10.1.2.3\r\n\r\nMatch host *.example\r\n  User me'; // CRLF, no final newline
    await fs.writeFile(userConfig, original, { mode: 0o640 });
    const installed = await env.cli(['ssh-config', '--install', '--file', userConfig, '--json']);
    assert.equal(installed.code, 0, installed.stderr);
    assert.equal(JSON.parse(installed.stdout).changed, true);
    const login = await runProgram('ssh', ['-F', userConfig, '-o', 'BatchMode=yes', alias, 'echo via-include']);
    assert.equal(login.stdout, 'via-include\n', login.stderr);
    assert.equal((await fs.stat(userConfig)).mode & 0o777, 0o640);
    const removed = await env.cli(['ssh-config', '--uninstall', '--file', userConfig]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(await fs.readFile(userConfig, 'utf8'), original);
  });

  it('refuses a sandbox whose host key changed, in our client and in OpenSSH, and never re-trusts it', async function () {
    const pinned = await fs.readFile(env.store.knownHostsPath, 'utf8');
    // An attacker inside replaces the key; the sandbox's sshd presents it after a restart.
    await rootExec(sandbox.providerRef!, "rm -f /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key");
    await controller.stop(sandbox.id);
    // Stop ends the shared connection, so nothing rides the old one.
    await waitFor(async () => (isAlive(masterPid) ? undefined : true), 'the master to exit with the stop', 5000);
    await controller.start(sandbox.id);
    await assert.rejects(controller.exec(sandbox.id, { command: 'true' }), (error: unknown) => {
      assert.ok(isSandboxError(error, 'host-key-mismatch'), String(error));
      assert.match(error.message, /presented host key SHA256:\S+ instead of the pinned SHA256:\S+, so nothing was sent/);
      return true;
    });
    assert.match(await fs.readFile(configFile, 'utf8'), new RegExp(`^  Port ${(await controller.status(sandbox.id)).ports['22']}$`, 'm'));
    const refused = await ssh(alias, 'true');
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    assert.equal(await fs.readFile(env.store.knownHostsPath, 'utf8'), pinned, 'our known_hosts is unchanged');
    const cli = await env.cli(['exec', sandbox.name, '--json', '--', 'true'], { env: {} });
    assert.equal(cli.code, 0, 'the engine API channel (trusted) still works');
  });

  it('drops the Host block when the sandbox goes', async function () {
    await controller.delete(sandbox.id);

    const config = await fs.readFile(configFile, 'utf8');
    assert.doesNotMatch(config, new RegExp(`^Host ${alias}$`, 'm'));
    assert.doesNotMatch(await fs.readFile(env.store.knownHostsPath, 'utf8'), new RegExp(sandbox.id));
    await assert.rejects(fs.stat(env.store.clientKeyPath(sandbox.id)), { code: 'ENOENT' });
  });
});
