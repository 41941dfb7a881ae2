import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SandboxController } from '../../src/core/controller';
import { isSandboxError } from '../../src/core/errors';
import type { SandboxRecord } from '../../src/core/model';
import { TestEnvironment, controllersPerChannel, ensureImage, rootExec, tempDir, uniqueName } from './helpers';

/** Spellings of root, root's group or a sudo group that the engine (or sudo) would honour. */
const FORBIDDEN = [
  '0',
  '00',
  '+0',
  '-0',
  'root',
  'agent:0',
  'agent:root',
  '1000:0',
  '0:1000',
  'agent:sudo',
  'agent:00',
  '1000:+0',
  '4242',
  'agent:ops',
  'nobody:0',
  'root:agent',
  'deploy',
  '4343',
];

describe('the user of a command on a sandbox made without sudo', function () {
  const env = new TestEnvironment();
  const { channels, docker, dispose: disposeChannels } = controllersPerChannel(env.store);
  let sandbox: SandboxRecord;

  before(async function () {
    await ensureImage();
    sandbox = await channels.agent.create({ name: uniqueName('nosudo'), profile: { sudo: false } });
    // A group that sudoers grants sudo to, which the agent is not in: naming it as the group must be refused too.
    await rootExec(sandbox.providerRef!, 'groupadd -g 4321 ops && echo "%ops ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/ops && chmod 0440 /etc/sudoers.d/ops');
    // A user that sudoers names itself (as an image may), in no group of note: refused by what sudo says.
    await rootExec(
      sandbox.providerRef!,
      'useradd -u 4343 -M -s /bin/sh deploy && echo "deploy ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/deploy && chmod 0440 /etc/sudoers.d/deploy',
    );
  });
  after(async () => {
    disposeChannels();
    await env.dispose();
  });

  for (const [channel, controller] of Object.entries(channels)) {
    it(`refuses every spelling of root or a sudo group (${channel} channel), and runs nothing`, async function () {
      await rootExec(sandbox.providerRef!, 'rm -f /tmp/ran-as');
      for (const user of [...FORBIDDEN, ' root']) {
        await assert.rejects(controller.exec(sandbox.id, { command: 'id -u > /tmp/ran-as', user }), (error: unknown) => {
          assert.ok(isSandboxError(error), `${JSON.stringify(user)}: ${String(error)}`);
          // " root" is no user at all: the engine's own refusal; everything else is ours.
          if (user !== ' root' || channel === 'ssh') {
            assert.equal(error.code, 'invalid-input', `${JSON.stringify(user)}: ${error.message}`);
            assert.match(error.message, /made without sudo/);
            assert.equal(error.message.split('. ').length, 1, 'one sentence');
          }
          return true;
        });
      }
      assert.equal(await rootExec(sandbox.providerRef!, 'cat /tmp/ran-as 2>/dev/null || echo none'), 'none\n');
    });

    it(`still runs as the sandbox user and other unprivileged users (${channel} channel)`, async function () {
      assert.equal((await controller.exec(sandbox.id, { command: ['id', '-u'] })).stdout, '1000\n');
      assert.equal((await controller.exec(sandbox.id, { command: ['id', '-u'], user: 'agent' })).stdout, '1000\n');
      if (channel !== 'ssh') {
        assert.equal((await controller.exec(sandbox.id, { command: ['id'], user: 'agent:staff' })).stdout, 'uid=1000(agent) gid=50(staff) groups=50(staff)\n');
        assert.equal((await controller.exec(sandbox.id, { command: ['id', '-u'], user: '65534' })).stdout, '65534\n');
      }
    });
  }

  it('gives the same ids through the exec agent as through the engine, whatever the spelling', async function () {
    // The check asks the sandbox through the command's own channel; the agent must read specs as the engine does.
    const open = await channels.agent.create({ name: uniqueName('sudo'), profile: { sudo: true } });
    for (const user of [...FORBIDDEN, '+1000', '1000:+50', 'agent:1000:0', 'agent::', '-1', '99999999999']) {
      const ids = async (controller: SandboxController) => {
        try {
          return (await controller.exec(open.id, { command: ['/bin/sh', '-c', 'echo $(id -u) $(id -g) $(id -G)'], user })).stdout;
        } catch (error) {
          return isSandboxError(error, 'command-failed-to-start') ? 'no such user' : String(error);
        }
      };
      assert.equal(await ids(channels.agent), await ids(channels.docker), `--user ${JSON.stringify(user)}`);
    }
    assert.equal((await channels.agent.exec(open.id, { command: ['id', '-u'], user: '00' })).stdout, '0\n', 'a sandbox with sudo still allows root');
  });

  it('checks the user of file transfers too', async function () {
    const local = tempDir();
    await fs.writeFile(path.join(local, 'a.txt'), 'a');
    await channels.docker.push(sandbox.id, { localRoot: local });
    const record = (await env.store.readRecord(sandbox.id))!;
    await env.store.writeRecord({ ...record, user: '+0' });
    try {
      const tampered = new SandboxController({ store: env.store, providers: { docker } });
      await assert.rejects(tampered.push(sandbox.id, { localRoot: local, full: true }), (error: unknown) => isSandboxError(error, 'invalid-input'));
      await assert.rejects(tampered.pull(sandbox.id, { localRoot: tempDir() }), (error: unknown) => isSandboxError(error, 'invalid-input'));
      tampered.dispose();
    } finally {
      await env.store.writeRecord(record);
    }
  });
});
