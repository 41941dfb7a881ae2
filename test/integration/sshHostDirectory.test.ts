import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { SshHost } from '../../src/core/hosts/registry';
import type { SandboxRecord } from '../../src/core/model';
import { fingerprint, generateEd25519 } from '../../src/core/ssh/keys';
import { CLI, TestEnvironment, ensureImage, rootExec, runProgram, tempDir, uniqueName, waitFor } from './helpers';
import { parseJson, readTerminal } from './sshHostFixtures';

describe('SSH hosts: directory sandboxes on a machine without Docker', function () {
  // The user's own machine is played by a sandbox container of another state dir: a real sshd
  // on 127.0.0.1, a user account (agent), and no Docker inside.
  const machine = new TestEnvironment();
  const env = new TestEnvironment();
  const hostName = uniqueName('box');
  let standIn: SandboxRecord;
  let identity: string;
  let presented: string;
  let a: SandboxRecord;
  let b: SandboxRecord;
  const project = tempDir('ssh-host-project-');

  before(async function () {
    await ensureImage();
    standIn = await machine.controller.create({ name: uniqueName('standin') });
    identity = machine.store.clientKeyPath(standIn.id);
    presented = fingerprint(standIn.ssh!.hostKey);
    await fs.writeFile(path.join(project, 'hello.txt'), 'hello from here\n');
  });
  after(async () => {
    env.controller.dispose();
    machine.controller.dispose();
    await env.dispose();
    await machine.dispose();
  });

  const addArgs = () => ['host', 'add', hostName, '--host', '127.0.0.1', '--port', String(standIn.ports['22']), '--user', 'agent', '--identity', identity];
  const sandboxesOnHost = async () =>
    (await rootExec(standIn.providerRef!, 'ls -A /home/agent/.agent-sandboxes/sandboxes 2>/dev/null || true')).split('\n').filter(Boolean);
  const processes = async (pattern: string) => (await rootExec(standIn.providerRef!, `ps -eo args | grep -c '^${pattern}' || true`)).trim();

  it('adds a host only when its key is confirmed: no or a wrong --fingerprint saves nothing', async function () {
    const unconfirmed = await env.cli(addArgs());
    assert.equal(unconfirmed.code, 2, unconfirmed.stderr);
    // Without a terminal there is no one to compare it: the presented key is not offered for pasting.
    assert.ok(!unconfirmed.stderr.includes(presented), `the presented fingerprint is not offered: ${unconfirmed.stderr}`);
    assert.match(unconfirmed.stderr, /read on the host itself \(`ssh-keygen -lf \/etc\/ssh\/ssh_host_ed25519_key\.pub` there/);
    const wrong = fingerprint(generateEd25519('other').publicKey);
    const refused = await env.cli([...addArgs(), '--fingerprint', wrong, '--json']);
    assert.equal(refused.code, 255);
    const error = JSON.parse(refused.stdout).error as { code: string; message: string };
    assert.equal(error.code, 'host-key-mismatch');
    assert.ok(error.message.includes(presented) && error.message.includes(wrong), error.message);
    assert.deepEqual(parseJson(await env.cli(['host', 'list', '--json'])), []);
    await assert.rejects(fs.stat(path.join(env.stateDir, 'hosts', `${hostName}.json`)), { code: 'ENOENT' });

    const added = await env.cli([...addArgs(), '--fingerprint', presented]);
    assert.equal(added.code, 0, added.stderr);
    assert.ok(added.stdout.includes(presented), added.stdout);
    assert.match(added.stdout, /folders under \/home\/agent\/\.agent-sandboxes\/sandboxes/);
    const file = path.join(env.stateDir, 'hosts', `${hostName}.json`);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    const saved = JSON.parse(await fs.readFile(file, 'utf8')) as SshHost;
    assert.equal(saved.hostKey, standIn.ssh!.hostKey.split(' ').slice(0, 2).join(' '));
    assert.equal(saved.docker, false);
    assert.equal(saved.identityFile, identity);
    assert.equal((await env.cli([...addArgs(), '--fingerprint', presented])).code, 5, 'a name is never re-pinned');
  });

  it('makes a sandbox folder on the host; exec, push and pull work there, and status says what is limited', async function () {
    a = parseJson<SandboxRecord>(await env.cli(['start', '--host', hostName, '--name', uniqueName('dir-a'), '--agent', 'agent-a', project, '--json']));
    assert.equal(a.provider, 'ssh');
    assert.deepEqual(a.placement, { host: hostName, kind: 'directory' });
    assert.equal(a.workdir, `/home/agent/.agent-sandboxes/sandboxes/${a.id}/workspace`);
    assert.match(a.limits!, /address space 2 GiB/);
    assert.match(a.limits!, /not fenced/);
    assert.deepEqual(await sandboxesOnHost(), [a.id]);

    const inside = await env.controller.exec(a.id, { command: 'pwd; cat hello.txt; echo "$AGENT_SANDBOX_ID"; grep "Max address space" /proc/self/limits' });
    const [cwd, hello, marker, limit] = inside.stdout.split('\n');
    assert.equal(cwd, a.workdir);
    assert.equal(hello, 'hello from here');
    assert.equal(marker, a.id);
    assert.match(limit!, /2147483648\s+2147483648/);
    const cliExec = await env.cli(['exec', a.name, '--', 'sh', '-c', 'echo out; exit 4']);
    assert.equal(cliExec.code, 4);
    assert.equal(cliExec.stdout, 'out\n');

    await fs.writeFile(path.join(project, 'hello.txt'), 'changed here\n');
    assert.equal((await env.cli(['sync', 'push', a.name, project])).code, 0);
    assert.equal((await env.controller.exec(a.id, { command: ['cat', 'hello.txt'] })).stdout, 'changed here\n');
    await env.controller.exec(a.id, { command: 'mkdir -p out && echo made there > out/result.txt' });
    const pulled = tempDir('ssh-host-pulled-');
    assert.equal((await env.cli(['sync', 'pull', a.name, 'out', '--to', pulled])).code, 0);
    assert.equal(await fs.readFile(path.join(pulled, 'result.txt'), 'utf8'), 'made there\n');

    const status = await env.cli(['status', a.name]);
    assert.match(status.stdout, new RegExp(`^host\\s+${hostName} \\(a folder there\\)$`, 'm'));
    assert.match(status.stdout, /^limits\s+per process: address space/m);
    assert.match(status.stdout, /^network\s+not fenced \(a folder sandbox uses the host's network/m);
    const fenced = await env.cli(['start', '--host', hostName, '--network', 'none', '--name', uniqueName('dir-none')]);
    assert.equal(fenced.code, 2);
    assert.match(fenced.stderr, /uses the host's network as agent and cannot be fenced; leave out --network/);
    const listed = parseJson<SandboxRecord[]>(await env.cli(['list', '--json']));
    assert.deepEqual(
      listed.map((record) => [record.name, record.state]),
      [[a.name, 'running']],
    );
  });

  it('keeps two sandboxes on one host apart: their own folders, and stop ends only its own processes', async function () {
    b = parseJson<SandboxRecord>(await env.cli(['start', '--host', hostName, '--name', uniqueName('dir-b'), '--json']));
    await env.controller.exec(a.id, { command: 'echo mine > only-a.txt' });
    assert.equal((await env.controller.exec(b.id, { command: 'ls -A' })).stdout, '');
    await env.controller.exec(a.id, { command: 'setsid sleep 3001 > /dev/null 2>&1 < /dev/null &' });
    await env.controller.exec(b.id, { command: 'setsid sleep 3002 > /dev/null 2>&1 < /dev/null &' });
    await waitFor(async () => (await processes('sleep 3001')) === '1' && (await processes('sleep 3002')) === '1', 15_000, 'both sleeps');

    const stopped = await env.cli(['stop', a.name]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(await processes('sleep 3001'), '0', "a's process is gone");
    assert.equal(await processes('sleep 3002'), '1', "b's process lives on");
    assert.equal(parseJson<SandboxRecord>(await env.cli(['status', a.name, '--json'])).state, 'stopped');
    assert.equal((await env.cli(['exec', a.name, '--', 'true'])).code, 5, 'a stopped sandbox takes no commands');
    assert.equal((await env.cli(['start', a.name])).code, 0);
    assert.equal((await env.controller.exec(a.id, { command: ['cat', 'only-a.txt'] })).stdout, 'mine\n', 'files are kept');
    assert.equal((await env.cli(['stop', b.name])).code, 0);
    assert.equal(await processes('sleep 3002'), '0');
    assert.equal((await env.cli(['start', b.name])).code, 0);
  });

  it('rebuilds a forgotten record from the metadata on the host', async function () {
    await fs.rm(env.store.recordPath(a.id));
    const listed = parseJson<SandboxRecord[]>(await env.cli(['list', '--json']));
    const back = listed.find((record) => record.id === a.id);
    assert.ok(back, 'adopted again');
    assert.equal(back.name, a.name);
    assert.equal(back.agentId, 'agent-a');
    assert.equal(back.state, 'running');
    assert.deepEqual(back.placement, a.placement);
  });

  it("lets OpenSSH log in with our config, and `sandbox ssh` lands in the sandbox's folder", async function () {
    const configFile = env.store.sshConfigPath;
    const login = await runProgram('ssh', ['-F', configFile, '-o', 'BatchMode=yes', `sandbox-${a.name}`, 'true']);
    assert.equal(login.code, 0, login.stderr);
    const config = await fs.readFile(configFile, 'utf8');
    assert.ok(config.includes(`  IdentityFile ${identity}`), 'the host identity, not a key of ours');
    const landed = await env.cli(['ssh', a.name, '--', 'pwd; echo "$AGENT_SANDBOX_ID"; exit 3']);
    assert.equal(landed.code, 3, landed.stderr);
    assert.equal(landed.stdout, `${a.workdir}\n${a.id}\n`);
  });

  it("opens a terminal in the sandbox's folder: a PTY over SSH with its marker and limits, which follows resizes", async function () {
    const terminal = await env.controller.openTerminal(a.id, { size: { columns: 90, rows: 20 } });
    const screen = readTerminal(terminal);
    terminal.write('pwd; echo "marker=$AGENT_SANDBOX_ID"; stty size; tty; grep "Max address space" /proc/self/limits\n');
    await screen.shows(new RegExp(`\r${a.workdir}\r\nmarker=${a.id}\r\n20 90\r\n/dev/pts/\\d+\r\nMax address space\\s+2147483648\\s+2147483648`));
    await terminal.resize({ columns: 132, rows: 43 });
    terminal.write('stty size; exit 7\n');
    await screen.shows(/\r43 132\r\n/);
    assert.equal(await terminal.exited, 7);
  });

  it('refuses the host when it presents another key, in our client and in OpenSSH', async function () {
    const swap = [
      'cp -p /etc/ssh/ssh_host_ed25519_key /root/saved_key && cp -p /etc/ssh/ssh_host_ed25519_key.pub /root/saved_key.pub',
      "rm -f /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key",
      'kill -HUP "$(cat /run/sshd.pid)"',
    ].join(' && ');
    const restore =
      'cp -p /root/saved_key /etc/ssh/ssh_host_ed25519_key && cp -p /root/saved_key.pub /etc/ssh/ssh_host_ed25519_key.pub && kill -HUP "$(cat /run/sshd.pid)"';
    await rootExec(standIn.providerRef!, swap);
    try {
      const refused = await waitFor(
        async () => {
          const result = await env.cli(['exec', a.name, '--json', '--', 'true']);
          return result.code === 255 ? result : undefined;
        },
        15_000,
        'the new key to be presented',
      );
      const error = JSON.parse(refused.stdout).error as { code: string; message: string };
      assert.equal(error.code, 'host-key-mismatch', error.message);
      assert.ok(error.message.includes(presented), error.message);
      // A new connection: one shared before the change was verified when it was made.
      const openssh = await runProgram('ssh', ['-F', env.store.sshConfigPath, '-o', 'BatchMode=yes', '-o', 'ControlPath=none', `sandbox-${a.name}`, 'true']);
      assert.equal(openssh.code, 255);
      assert.match(openssh.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
      // The listing says why instead of calling the sandboxes gone.
      const listed = parseJson<SandboxRecord[]>(await env.cli(['list', '--json']));
      assert.deepEqual(listed.map((record) => record.id).sort(), [a.id, b.id].sort(), 'both sandboxes on the host are listed');
      for (const record of listed) {
        assert.equal(record.state, 'error');
        assert.match(record.problem!, /presented host key/);
      }
      const saved = JSON.parse(await fs.readFile(path.join(env.stateDir, 'hosts', `${hostName}.json`), 'utf8')) as SshHost;
      assert.equal(saved.fingerprint, presented, 'the pinned key is unchanged');
    } finally {
      await rootExec(standIn.providerRef!, restore);
    }
    await waitFor(async () => ((await env.cli(['exec', a.name, '--', 'true'])).code === 0 ? true : undefined), 15_000, 'the pinned key again');
    const back = parseJson<SandboxRecord[]>(await env.cli(['list', '--json']));
    assert.deepEqual(back.map((record) => record.id).sort(), [a.id, b.id].sort(), 'both sandboxes are listed again');
    assert.equal(
      back.every((record) => record.state === 'running'),
      true,
    );
  });

  it('logs in with ssh-agent for a host added with --agent', async function () {
    const socket = path.join(tempDir('ssh-host-agent-'), 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      await waitFor(
        () =>
          fs.stat(socket).then(
            () => true,
            () => false,
          ),
        10_000,
        'ssh-agent to listen',
      );
      const agentEnv = { SSH_AUTH_SOCK: socket };
      const loaded = await new Promise<number | null>((resolve) =>
        spawn('ssh-add', ['-q', identity], { env: { ...process.env, ...agentEnv }, stdio: 'ignore' }).on('exit', resolve),
      );
      assert.equal(loaded, 0);
      const viaAgent = uniqueName('agentbox');
      const args = [
        'host',
        'add',
        viaAgent,
        '--host',
        '127.0.0.1',
        '--port',
        String(standIn.ports['22']),
        '--user',
        'agent',
        '--agent',
        '--fingerprint',
        presented,
        '--json',
      ];
      assert.equal((await env.cli(args, { env: { SSH_AUTH_SOCK: '' } })).code, 2, 'no agent, no add');
      const added = parseJson<SshHost>(await env.cli(args, { env: agentEnv }));
      assert.equal(added.agent, true);
      assert.equal(added.identityFile, undefined);
      const made = parseJson<SandboxRecord>(await env.cli(['start', '--host', viaAgent, '--json'], { env: agentEnv }));
      assert.equal((await env.cli(['exec', made.name, '--', 'pwd'], { env: agentEnv })).stdout, `${made.workdir}\n`);
      const config = await fs.readFile(env.store.sshConfigPath, 'utf8');
      const block = config.split('\n\n').find((text) => text.startsWith(`Host sandbox-${made.name}\n`))!;
      assert.doesNotMatch(block, /IdentityFile/, 'the agent, no key file');
      const login = await new Promise<number | null>((resolve) =>
        spawn('ssh', ['-F', env.store.sshConfigPath, '-o', 'BatchMode=yes', `sandbox-${made.name}`, 'true'], {
          env: { ...process.env, ...agentEnv },
          stdio: 'ignore',
        }).on('exit', resolve),
      );
      assert.equal(login, 0);
      assert.equal((await env.cli(['host', 'rm', viaAgent, '--force'], { env: agentEnv })).code, 0);
      assert.deepEqual(await sandboxesOnHost(), [a.id, b.id].sort());
    } finally {
      agent.kill('SIGTERM');
    }
  });

  it('removes a sandbox with its folder, and the host only once it is empty or with --force', async function () {
    // A folder has no output stream to end: following its logs ends by watching the sandbox.
    const follow = spawn(process.execPath, [CLI, 'logs', b.name, '-f'], { env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir } });
    let followed = '';
    follow.stdout.on('data', (chunk) => (followed += chunk));
    follow.stderr.on('data', (chunk) => (followed += chunk));
    const followEnded = new Promise<number | null>((resolve) => follow.on('close', resolve));
    await waitFor(() => followed.includes('event started') || undefined, 15_000, 'the followed history');
    assert.equal((await env.cli(['rm', b.name])).code, 0);
    const removedAt = Date.now();
    const killer = setTimeout(() => follow.kill('SIGKILL'), 10_000);
    assert.equal(await followEnded, 3, followed);
    clearTimeout(killer);
    assert.ok(Date.now() - removedAt < 10_000);
    assert.match(followed, new RegExp(`sandbox: The sandbox ${b.name} was removed, so its logs end here\\.\\n$`));
    assert.deepEqual(await sandboxesOnHost(), [a.id]);
    const refused = await env.cli(['host', 'rm', hostName]);
    assert.equal(refused.code, 5);
    assert.ok(refused.stderr.includes(a.name), refused.stderr);
    await env.controller.exec(a.id, { command: 'setsid sleep 3003 > /dev/null 2>&1 < /dev/null &' });
    // Seen running first, so that none left after the removal means one was killed.
    await waitFor(async () => (await processes('sleep 3003')) === '1', 15_000, 'the sleep to run');
    const removed = await env.cli(['host', 'rm', hostName, '--force']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(await sandboxesOnHost(), [], 'no folder left behind');
    assert.equal(await processes('sleep 3003'), '0', 'nor a process');
    assert.deepEqual(parseJson(await env.cli(['list', '--json'])), []);
    assert.deepEqual(parseJson(await env.cli(['host', 'list', '--json'])), []);
  });
});
