import * as assert from 'node:assert/strict';
import type { SandboxRecord } from '../../src/core/model';
import { TestEnvironment, controllersPerChannel, ensureImage, uniqueName } from './helpers';

/** Writes 400 MiB, far past the sandbox's 128 MiB. */
const ALLOCATE = ['python3', '-c', 'x = b"a" * (400 * 1024 * 1024)'];
const SAID = /^The command was killed: the sandbox ran out of memory \(limit 128 MiB\); raise it with --memory when you start a sandbox\.$/;

describe('a command killed by the sandbox memory limit', function () {
  const env = new TestEnvironment();
  const { channels, dispose: disposeChannels } = controllersPerChannel(env.store);
  let sandbox: SandboxRecord;

  before(async function () {
    await ensureImage();
    sandbox = await channels.agent.create({ name: uniqueName('memory'), profile: { memory: 128 * 1024 ** 2 } });
  });
  after(async () => {
    disposeChannels();
    await env.dispose();
  });

  for (const [channel, controller] of Object.entries(channels)) {
    it(`says it ran out of memory, with the limit, from the OOM counter (${channel} channel)`, async function () {
      const killed = await controller.exec(sandbox.id, { command: ALLOCATE });
      assert.equal(killed.exitCode, 137);
      assert.match(killed.outOfMemory ?? '', SAID);
      // A kill by anyone else has the same exit code and is not called a lack of memory.
      const shot = await controller.exec(sandbox.id, { command: 'kill -9 $$' });
      assert.equal(shot.exitCode, 137);
      assert.equal(shot.outOfMemory, undefined);
      assert.equal((await controller.exec(sandbox.id, { command: ['true'] })).outOfMemory, undefined);
    });
  }

  it('says so in the CLI, its --json, and the journal', async function () {
    const plain = await env.cli(['exec', sandbox.name, '--', ...ALLOCATE]);
    assert.equal(plain.code, 137);
    assert.match(plain.stderr, /^sandbox: The command was killed: the sandbox ran out of memory \(limit 128 MiB\); raise it with --memory/m);
    const json = await env.cli(['exec', sandbox.name, '--json', '--', ...ALLOCATE]);
    assert.match((JSON.parse(json.stdout) as { outOfMemory: string }).outOfMemory, SAID);
    const journal = await env.store.readJournal(sandbox.id);
    assert.ok(journal.some((entry) => entry.kind === 'exec' && SAID.test(entry.outOfMemory ?? '')));
    const logs = await env.cli(['logs', sandbox.name]);
    assert.match(logs.stdout, /exec {2}python3 -c .* -> exit 137 in [\d.]+ ms \(The command was killed: the sandbox ran out of memory/);
  });
});
