import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestEnvironment, docker, ensureImage, tempDir, uniqueName } from './helpers';

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
    await env.controller.exec(compute!.id, { command: 'echo secret > /tmp/only-here; echo x > /home/agent/workspace/only-here' });
    for (const other of [git!, sync!]) {
      const probe = await env.controller.exec(other.id, { command: 'ls /tmp/only-here /home/agent/workspace/only-here' });
      assert.notEqual(probe.exitCode, 0, `${other.name} must not see the file`);
    }

    // Sandboxes cannot reach each other over the network either.
    const gitAddress = Object.values((await docker.getContainer(git!.providerRef!).inspect()).NetworkSettings.Networks)[0]!.IPAddress;
    const connect = await env.controller.exec(compute!.id, {
      command: ['python3', '-c', `import socket; socket.create_connection(("${gitAddress}", 22), timeout=2); print("reached")`],
    });
    assert.notEqual(connect.exitCode, 0, 'a sandbox reached another one on port 22');
    assert.ok(!connect.stdout.includes('reached'));
  });
});
