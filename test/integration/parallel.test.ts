import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestEnvironment, docker, ensureImage, tempDir, uniqueName } from './helpers';

/** Connects to argv[1]:22; prints "reached", "timeout" or "refused <errno name>", exits 1 unless reached. */
const CONNECT_TO = `
import errno, socket, sys
try:
    socket.create_connection((sys.argv[1], 22), timeout=5)
    print("reached")
except socket.timeout:
    print("timeout"); sys.exit(1)
except OSError as error:
    print("refused", errno.errorcode.get(error.errno, error.errno)); sys.exit(1)
`;

describe('sandboxes in parallel', function () {
  const env = new TestEnvironment();
  before(() => ensureImage());
  after(() => env.dispose());

  it('runs three different tasks at once, each isolated from the others', async function () {
    const names = ['compute', 'git', 'sync'].map((task) => uniqueName(`par-${task}`));
    const local = tempDir();
    await fs.writeFile(path.join(local, 'input.txt'), 'round trip\n');
    await fs.mkdir(path.join(local, 'nested', 'deep'), { recursive: true });
    await fs.writeFile(path.join(local, 'nested', 'deep', 'data.bin'), Buffer.alloc(4096, 7));

    const [compute, git, sync] = await Promise.all(names.map((name) => env.controller.create({ name, agentId: name })));

    const [computed, committed, synced] = await Promise.all([
      env.controller.exec(compute!.id, { command: ['python3', '-c', 'import math; print(math.factorial(25))'] }),
      env.controller.exec(git!.id, {
        command:
          'git init -q repo && cd repo && echo hello > a.txt && git add a.txt && ' +
          'git -c user.name=agent -c user.email=agent@sandbox commit -qm first && git log --format=%s',
      }),
      (async () => {
        await env.controller.push(sync!.id, { localRoot: local, remoteDir: 'work' });
        await env.controller.exec(sync!.id, { command: 'cd work && tr a-z A-Z < input.txt > output.txt' });
        const back = tempDir();
        await env.controller.pull(sync!.id, { remoteDir: 'work', localRoot: back });
        return back;
      })(),
    ]);
    assert.equal(computed.stdout.trim(), '15511210043330985984000000');
    assert.equal(committed.exitCode, 0, committed.stderr);
    assert.equal(committed.stdout.trim(), 'first');
    assert.equal(await fs.readFile(path.join(synced, 'output.txt'), 'utf8'), 'ROUND TRIP\n');
    assert.deepEqual(await fs.readFile(path.join(synced, 'nested', 'deep', 'data.bin')), Buffer.alloc(4096, 7));

    // A file written in one sandbox is visible in none of the others.
    const written = await env.controller.exec(compute!.id, {
      command: 'echo secret > /tmp/only-here; echo x > /home/agent/workspace/only-here; cat /tmp/only-here /home/agent/workspace/only-here',
    });
    assert.equal(written.exitCode, 0, written.stderr);
    assert.equal(written.stdout, 'secret\nx\n', 'the files are there in their own sandbox');
    for (const other of [git!, sync!]) {
      const probe = await env.controller.exec(other.id, { command: 'ls /tmp/only-here /home/agent/workspace/only-here' });
      assert.notEqual(probe.exitCode, 0, `${other.name} must not see the file`);
      const missing = probe.stderr.split('\n').filter((line) => /only-here.*No such file or directory/.test(line));
      assert.equal(missing.length, 2, `${other.name} fails to list them because they are not there: ${probe.stderr}`);
    }

    // Sandboxes cannot reach each other over the network either, though the other one's sshd listens.
    const gitAddress = Object.values((await docker.getContainer(git!.providerRef!).inspect()).NetworkSettings.Networks)[0]!.IPAddress;
    const fromItself = await env.controller.exec(git!.id, { command: ['python3', '-c', CONNECT_TO, gitAddress] });
    assert.equal(fromItself.stdout.trim(), 'reached', `its own sshd answers on ${gitAddress}:22: ${fromItself.stderr}`);
    const connect = await env.controller.exec(compute!.id, { command: ['python3', '-c', CONNECT_TO, gitAddress] });
    assert.notEqual(connect.exitCode, 0, 'a sandbox reached another one on port 22');
    assert.ok(!connect.stdout.includes('reached'));
    assert.match(
      connect.stdout.trim(),
      /^(timeout|refused ECONNREFUSED|refused EHOSTUNREACH|refused ENETUNREACH|refused EACCES|refused EPERM)$/,
      `a refusal or a timeout, not another failure: ${connect.stdout}${connect.stderr}`,
    );
  });
});
