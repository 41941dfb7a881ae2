import * as assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SandboxController } from '../../src/core/controller';
import { LABELS } from '../../src/core/labels';
import { TestEnvironment, docker, ensureImage, tempDir, uniqueName } from './helpers';
import { assertNothingLeft, footprint } from './leftovers';

describe('sandbox lifecycle on the Docker engine', function () {
  const env = new TestEnvironment();
  before(() => ensureImage());
  after(() => env.dispose());

  it('creates a sandbox, runs a task, reads its result, and leaves nothing after delete', async function () {
    const name = uniqueName('life');
    const project = tempDir();
    await fs.writeFile(path.join(project, 'a.txt'), 'a\n');
    const before = await footprint(env.stateDir);
    const record = await env.controller.create({ name, agentId: 'agent-7', profile: { cpus: 1, memory: 256 * 1024 ** 2, pids: 128 } });
    assert.equal(record.state, 'running');
    assert.equal(record.agentId, 'agent-7');
    assert.equal(record.provider, 'docker');

    const container = await docker.getContainer(record.providerRef!).inspect();
    assert.equal(container.HostConfig.Privileged, false);
    assert.equal(container.HostConfig.NanoCpus, 1e9);
    assert.equal(container.HostConfig.Memory, 256 * 1024 ** 2);
    assert.equal(container.HostConfig.PidsLimit, 128);
    assert.ok(!(container.HostConfig.Binds ?? []).some((bind) => bind.includes('docker.sock')));
    for (const bindings of Object.values(container.HostConfig.PortBindings ?? {}) as { HostIp: string }[][]) {
      for (const binding of bindings) assert.equal(binding.HostIp, '127.0.0.1');
    }
    assert.equal(container.Config.Labels[LABELS.id], record.id);

    const task = await env.controller.exec(name, { command: ['python3', '-c', 'print(sum(range(101)))'] });
    assert.equal(task.exitCode, 0);
    assert.equal(task.stdout.trim(), '5050');

    // Its traces while it lives, so the check after delete is known to look where they were.
    assert.ok(existsSync(env.store.clientKeyPath(record.id)), 'the sandbox has a client key');
    assert.match(await fs.readFile(env.store.sshConfigPath, 'utf8'), new RegExp(name), 'and an SSH config entry');
    await env.controller.push(name, { localRoot: project, remoteDir: 'project' });
    assert.ok(existsSync(path.join(env.stateDir, 'manifests', record.id)), 'and a sync manifest');

    await env.controller.delete(name);
    await assertNothingLeft(before, { names: [name], ids: [record.id, record.providerRef!] });
    const idLabel = `${LABELS.id}=${record.id}`;
    assert.deepEqual(await docker.listContainers({ all: true, filters: { label: [idLabel] } }), []);
    const volumes = await docker.listVolumes({ filters: { label: [idLabel] } });
    assert.deepEqual(volumes.Volumes ?? [], []);
    assert.deepEqual(await docker.listNetworks({ filters: { label: [idLabel] } }), []);
    assert.equal(existsSync(env.store.recordPath(record.id)), false);
    assert.equal(existsSync(env.store.journalPath(record.id)), false);
    assert.deepEqual(await env.controller.list(), []);
  });

  it('stops and starts a sandbox, keeping its files, and reports status', async function () {
    const name = uniqueName('stopstart');
    await env.controller.create({ name });
    await env.controller.exec(name, { command: 'echo kept > note.txt' });
    const stopped = await env.controller.stop(name);
    assert.equal(stopped.state, 'stopped');
    await assert.rejects(env.controller.exec(name, { command: ['true'] }), /is stopped; start it/);
    const started = await env.controller.start(name);
    assert.equal(started.state, 'running');
    assert.equal((await env.controller.exec(name, { command: ['cat', 'note.txt'] })).stdout, 'kept\n');
    const status = await env.controller.status(name.slice(0, 12));
    assert.equal(status.name, name);
    assert.ok(status.ports['22'] && status.ports['22'] > 0);
    await env.controller.delete(name);
  });

  it('lets a second process see the same sandboxes, and reconciles changes made behind its back', async function () {
    const name = uniqueName('shared');
    const record = await env.controller.create({ name });
    const other = new SandboxController({ store: env.store });
    assert.ok((await other.list()).some((r) => r.id === record.id));

    // The CLI, in another process, sees it too and can run in it.
    const listed = await env.cli(['list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok((JSON.parse(listed.stdout) as { id: string }[]).some((r) => r.id === record.id));

    // A record lost from the state dir: the container is adopted from its labels.
    await env.store.deleteRecord(record.id);
    const reconciled = await other.reconcile();
    assert.deepEqual(reconciled.adopted, [name]);
    const adopted = reconciled.records.find((r) => r.id === record.id)!;
    assert.equal(adopted.state, 'running');
    assert.equal(adopted.name, name);
    assert.deepEqual(adopted.profile, record.profile);

    // The container removed outside Agent Sandboxes: the record is marked lost, then forgotten by rm.
    await docker.getContainer(record.providerRef!).remove({ force: true });
    const afterRemoval = await env.controller.reconcile();
    assert.deepEqual(afterRemoval.lost, [name]);
    assert.equal(afterRemoval.records.find((r) => r.id === record.id)?.state, 'lost');
    await env.controller.delete(name);
    assert.deepEqual(await env.controller.list(), []);
  });

  it('accepts names, ids and unique prefixes, and refuses ambiguous ones', async function () {
    const first = await env.controller.create({ name: 'prefix-alpha-' + uniqueName('x') });
    const second = await env.controller.create({ name: 'prefix-beta-' + uniqueName('x') });
    assert.equal((await env.controller.status(first.id.slice(0, 6))).id, first.id);
    assert.equal((await env.controller.status('prefix-b')).id, second.id);
    await assert.rejects(env.controller.status('prefix-'), /matches several sandboxes/);
    await env.controller.delete(first.id);
    await env.controller.delete(second.name);
  });
});
