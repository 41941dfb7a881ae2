import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { SandboxSnapshottedEvent } from '../../src/core/events/types';
import type { SnapshotEntry } from '../../src/core/controller';
import { isSandboxError } from '../../src/core/errors';
import type { SshHost } from '../../src/core/hosts/registry';
import { LABELS, SNAPSHOT_LABELS } from '../../src/core/labels';
import type { SandboxRecord } from '../../src/core/model';
import { DockerProvider } from '../../src/core/providers/docker';
import { containerOwner } from '../../src/core/providers/sshHost';
import { TestEnvironment, docker, ensureImage, rootExec, runProgram, tempDir, uniqueName } from './helpers';
import { addRootSshdHost, parseJson, removeHostContainers, startRootSshd, type RootSshd } from './sshHostFixtures';

const WORKSPACE_FILE = 'notes/kept.txt';
const WORKSPACE_TEXT = 'written before the snapshot';

/** Logs in with OpenSSH (a new connection) as the sandbox's alias of our config, with the given client key in place of its own. */
async function sshWith(env: TestEnvironment, ref: string, identity?: string): Promise<number | null> {
  const { configFile, alias } = await env.controller.sshTarget(ref);
  let config = configFile;
  if (identity) {
    config = path.join(tempDir('snapshot-ssh-'), 'config');
    await fs.writeFile(config, (await fs.readFile(configFile, 'utf8')).replace(/^ {2}IdentityFile .*$/gm, `  IdentityFile ${identity}`));
  }
  // A login of its own each time: a shared connection would skip the key being tested.
  return (await runProgram('ssh', ['-F', config, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'ControlPath=none', alias, 'true'])).code;
}

/** Removes the snapshot images of an owner label, whatever a failed test left. */
async function removeSnapshotImages(owner: string): Promise<void> {
  for (const image of await docker.listImages({ filters: { label: [`${LABELS.owner}=${owner}`, SNAPSHOT_LABELS.name] } })) {
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}

describe('snapshots and forks of sandboxes on the Docker engine', function () {
  const env = new TestEnvironment();
  const { controller, store } = env;
  const provider = new DockerProvider({ execChannel: 'docker' });
  const snapshotted: SandboxSnapshottedEvent[] = [];
  let origin: SandboxRecord;
  /** A key the origin authorized on its own (as `authorizeKey` does): no copy may accept it. */
  let extraKey: string;

  const readFile = async (ref: string) => (await controller.exec(ref, { command: ['cat', WORKSPACE_FILE] })).stdout;
  const cliJson = async (args: string[]) => {
    const result = await env.cli([...args, '--json']);
    return { ...result, json: JSON.parse(result.stdout) as unknown };
  };

  before(async function () {
    await ensureImage();
    controller.events.on('sandbox.snapshotted', (event) => void snapshotted.push(event));
    origin = await controller.create({ name: uniqueName('snap-origin') });
    await controller.exec(origin.name, { command: ['sh', '-c', `mkdir -p notes && printf '%s' '${WORKSPACE_TEXT}' > ${WORKSPACE_FILE}`] });
    const extra = path.join(tempDir('snapshot-extra-'), 'key');
    assert.equal((await runProgram('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', extra])).code, 0);
    extraKey = extra;
    await provider.authorizeKey(origin.providerRef!, (await fs.readFile(`${extra}.pub`, 'utf8')).trim());
    assert.equal(await sshWith(env, origin.name, extraKey), 0, 'the origin accepts the key it authorized');
  });

  after(async function () {
    const ownerId = await env.ownerId();
    provider.dispose();
    await env.dispose();
    await removeSnapshotImages(ownerId);
  });

  it('starts a copy with the files of its origin, its own host key, and no login of the origin', async function () {
    const snapshotName = uniqueName('snap');
    const snapshot = await controller.snapshot(origin.name, { name: snapshotName, note: 'before the change' });
    assert.equal(snapshot.name, snapshotName);
    assert.deepEqual(snapshot.origin, { id: origin.id, name: origin.name });
    assert.equal(snapshot.note, 'before the change');
    assert.deepEqual(
      snapshotted.map((event) => [event.sandboxId, event.snapshot]),
      [[origin.id, snapshotName]],
    );
    // The origin went on running, and the image carries no sandbox's identity.
    assert.equal((await controller.status(origin.name)).state, 'running');
    const labels = (await docker.getImage(snapshot.providerRef).inspect()).Config.Labels ?? {};
    assert.equal(labels[LABELS.id], '');
    assert.equal(labels[LABELS.hostKey], '');
    assert.equal(labels[SNAPSHOT_LABELS.originId], origin.id);

    const copy = await controller.create({ name: uniqueName('snap-copy'), fromSnapshot: snapshotName, profile: { cpus: 1 } });
    assert.equal(copy.state, 'running');
    assert.equal(copy.profile.image, snapshot.providerRef);
    assert.equal(copy.profile.cpus, 1, 'an option given overrides the profile of the snapshot');
    assert.equal(copy.profile.memory, origin.profile.memory, 'the rest of the profile is the origin');
    assert.equal(await readFile(copy.name), WORKSPACE_TEXT);

    // Its own host key, pinned and served; never the origin's.
    const originKey = await provider.readHostKey(origin.providerRef!);
    const copyKey = await provider.readHostKey(copy.providerRef!);
    assert.ok(originKey && copyKey);
    assert.notEqual(copyKey, originKey);
    assert.equal(copy.ssh?.hostKey.split(' ').slice(0, 2).join(' '), copyKey.split(' ').slice(0, 2).join(' '));

    // Its own client key alone logs in: not the origin's, not one the origin authorized.
    const copyClient = await store.clientKey(copy.id);
    assert.notEqual(copyClient.publicKey, (await store.clientKey(origin.id)).publicKey);
    const authorized = (await rootExec(copy.providerRef!, 'cat /home/agent/.ssh/authorized_keys')).trim().split('\n');
    assert.deepEqual(authorized, [copyClient.publicKey.trim()]);
    assert.equal(await sshWith(env, copy.name), 0, "the copy's own key logs in");
    assert.equal(await sshWith(env, copy.name, store.clientKeyPath(origin.id)), 255, "the origin's client key is refused");
    assert.equal(await sshWith(env, copy.name, extraKey), 255, 'a key the origin authorized is refused');
    assert.equal(await sshWith(env, origin.name), 0, 'the origin still takes its own key');

    const listed = await controller.listSnapshots();
    assert.deepEqual(listed.find((entry) => entry.name === snapshotName)?.usedBy, [copy.name]);
    await assert.rejects(controller.removeSnapshot(snapshotName), (error) => isSandboxError(error, 'wrong-state') && error.message.includes(copy.name));
    await controller.delete(copy.name);
    await controller.removeSnapshot(snapshotName);
    assert.ok(!(await controller.listSnapshots()).some((entry) => entry.name === snapshotName));
    await assert.rejects(docker.getImage(snapshot.providerRef).inspect(), 'the image is gone');
  });

  it('forks into two running sandboxes with the files and keys of their own, and keeps the snapshot', async function () {
    const { code, json, stderr } = await cliJson(['fork', origin.name, '--count', '2']);
    assert.equal(code, 0, stderr);
    const fork = json as { snapshot: { name: string; providerRef: string }; sandboxes: SandboxRecord[]; failures: unknown[] };
    assert.deepEqual(fork.failures, []);
    assert.equal(fork.sandboxes.length, 2);
    assert.match(fork.snapshot.name, new RegExp(`^${origin.name}-fork-\\d{8}-\\d{6}$`));
    const hostKeys = new Set([await provider.readHostKey(origin.providerRef!)]);
    const clientKeys = new Set([(await store.clientKey(origin.id)).publicKey]);
    for (const sandbox of fork.sandboxes) {
      assert.equal(sandbox.state, 'running');
      assert.equal(await readFile(sandbox.name), WORKSPACE_TEXT);
      hostKeys.add(await provider.readHostKey(sandbox.providerRef!));
      clientKeys.add((await store.clientKey(sandbox.id)).publicKey);
      assert.equal(await sshWith(env, sandbox.name), 0);
      assert.equal(await sshWith(env, sandbox.name, store.clientKeyPath(origin.id)), 255);
    }
    assert.equal(hostKeys.size, 3, 'three machines, three host keys');
    assert.equal(clientKeys.size, 3, 'three machines, three client keys');

    const listed = (await cliJson(['snapshots'])).json as { name: string; usedBy: string[] }[];
    const kept = listed.find((entry) => entry.name === fork.snapshot.name);
    assert.deepEqual(kept?.usedBy.sort(), fork.sandboxes.map((sandbox) => sandbox.name).sort());

    // In use, a snapshot survives a prune; once its sandboxes are gone, it goes.
    const pruneInUse = (await cliJson(['snapshots', 'prune', '--keep', '0'])).json as { removed: unknown[]; inUse: { name: string }[] };
    assert.deepEqual(pruneInUse.removed, []);
    assert.deepEqual(
      pruneInUse.inUse.map((entry) => entry.name),
      [fork.snapshot.name],
    );
    const removed = await env.cli(['rm', ...fork.sandboxes.map((sandbox) => sandbox.name)]);
    assert.equal(removed.code, 0, removed.stderr);
    const pruned = (await cliJson(['snapshots', 'prune', '--max-age-days', '0'])).json as { removed: { name: string }[] };
    assert.deepEqual(
      pruned.removed.map((entry) => entry.name),
      [fork.snapshot.name],
    );
    await assert.rejects(docker.getImage(fork.snapshot.providerRef).inspect(), 'the image is gone');
  });

  it('starts from a snapshot with the CLI, and keeps the newest snapshots on a prune', async function () {
    const [older, newer] = [uniqueName('snap-old'), uniqueName('snap-new')];
    for (const name of [older, newer]) {
      const taken = await env.cli(['snapshot', origin.name, '--name', name]);
      assert.equal(taken.code, 0, taken.stderr);
      assert.match(taken.stdout, new RegExp(`^Snapshot ${name} of ${origin.name}`));
    }
    const copyName = uniqueName('snap-cli');
    const started = await env.cli(['start', '--from', newer, '--name', copyName]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, new RegExp(`Started ${copyName} \\(\\w+\\) from the snapshot ${newer}\\.`));
    assert.equal(await readFile(copyName), WORKSPACE_TEXT);
    assert.match((await env.cli(['snapshots'])).stdout, new RegExp(`^${newer} +${origin.name} .* ${copyName}`, 'm'));

    const pruned = (await cliJson(['snapshots', 'prune', '--keep', '1'])).json as { removed: { name: string }[] };
    assert.deepEqual(
      pruned.removed.map((entry) => entry.name),
      [older],
    );
    const removedSnapshot = await env.cli(['snapshots', 'rm', newer]);
    assert.notEqual(removedSnapshot.code, 0, 'in use');
    assert.match(removedSnapshot.stderr, new RegExp(`is the image of ${copyName}; remove that sandbox first`));
    assert.equal((await env.cli(['rm', copyName])).code, 0);
    const rm = await env.cli(['snapshots', 'rm', newer]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual((await cliJson(['snapshots'])).json, []);
  });

  it('says what is wrong with a bad name, a taken one, or a missing snapshot, and leaves nothing of a failed create', async function () {
    const bad = await env.cli(['snapshot', origin.name, '--name', 'Not_A_Name']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /The snapshot name "Not_A_Name" is not valid; use 1-63 lowercase letters/);

    const name = uniqueName('snap-taken');
    assert.equal((await env.cli(['snapshot', origin.name, '--name', name])).code, 0);
    const taken = await env.cli(['snapshot', origin.name, '--name', name]);
    assert.equal(taken.code, 5);
    assert.match(taken.stderr, new RegExp(`A snapshot named ${name} already exists; .*sandbox snapshots rm ${name}`));

    const missing = await cliJson(['start', '--from', 'no-such-snapshot']);
    assert.equal(missing.code, 3);
    assert.deepEqual(missing.json, {
      error: { code: 'not-found', message: 'No snapshot is named no-such-snapshot; see `sandbox snapshots` for the list.' },
    });
    assert.match((await env.cli(['snapshots', 'rm', 'no-such-snapshot'])).stderr, /No snapshot is named no-such-snapshot/);
    assert.match((await env.cli(['start', '--from', name, '--image', 'debian'])).stderr, /runs the snapshot; leave out --image/);

    // A create from a snapshot cancelled once its machine exists removes the machine and the record.
    const abort = new AbortController();
    const cancelledName = uniqueName('snap-cancel');
    await assert.rejects(
      controller.create({
        name: cancelledName,
        fromSnapshot: name,
        signal: abort.signal,
        onProgress: (progress) => (progress.step === 'create' ? setTimeout(() => abort.abort(), 300) : undefined),
      }),
      (error) => isSandboxError(error, 'cancelled'),
    );
    assert.ok(!(await store.listRecords()).some((record) => record.name === cancelledName), 'no record left');
    assert.deepEqual(
      (await env.containers()).filter((container) => container.Labels[LABELS.name] === cancelledName),
      [],
      'no container left',
    );
    assert.equal((await env.cli(['snapshots', 'rm', name])).code, 0);
  });
});

describe('snapshots of sandboxes on an SSH host with Docker', function () {
  // The host is this machine, through an OpenSSH server of our own that logs in as root.
  const env = new TestEnvironment();
  const hostName = uniqueName('snaphost');
  let sshd: RootSshd;

  before(async function () {
    await ensureImage();
    sshd = await startRootSshd();
    const added = await addRootSshdHost(env, hostName, sshd);
    assert.equal(added.code, 0, added.stderr);
  });
  after(async () => {
    const owner = containerOwner(await env.ownerId(), { name: hostName } as SshHost);
    env.controller.dispose();
    await removeHostContainers(env, hostName);
    await env.dispose();
    await removeSnapshotImages(owner);
    await sshd?.stop();
  });

  it('keeps the snapshot on the host, and starts the copy there with its own keys', async function () {
    const origin = parseJson<SandboxRecord>(await env.cli(['start', '--host', hostName, '--name', uniqueName('host-origin'), '--json']));
    await env.controller.exec(origin.id, { command: ['sh', '-c', `mkdir -p notes && printf '%s' '${WORKSPACE_TEXT}' > ${WORKSPACE_FILE}`] });
    const snapshotName = uniqueName('host-snap');
    const taken = await env.cli(['snapshot', origin.name, '--name', snapshotName]);
    assert.equal(taken.code, 0, taken.stderr);
    const [listed] = parseJson<SnapshotEntry[]>(await env.cli(['snapshots', '--json']));
    assert.equal(listed?.name, snapshotName);
    assert.equal(listed?.provider, 'ssh');
    assert.equal(listed?.host, hostName);

    const copy = parseJson<SandboxRecord>(await env.cli(['start', '--from', snapshotName, '--name', uniqueName('host-copy'), '--json']));
    assert.deepEqual(copy.placement, { host: hostName, kind: 'container' });
    assert.equal((await env.controller.exec(copy.id, { command: ['cat', WORKSPACE_FILE] })).stdout, WORKSPACE_TEXT);
    const hosts = env.controller.sshHosts;
    assert.notEqual(await hosts.readHostKey(copy.providerRef!), await hosts.readHostKey(origin.providerRef!));
    assert.equal(await sshWith(env, copy.name), 0, "the copy's own key logs in");
    assert.equal(await sshWith(env, copy.name, env.store.clientKeyPath(origin.id)), 255, "the origin's client key is refused");

    assert.deepEqual(parseJson<SnapshotEntry[]>(await env.cli(['snapshots', '--json']))[0]?.usedBy, [copy.name]);
    assert.equal((await env.cli(['rm', copy.name, origin.name])).code, 0);
    const removed = await env.cli(['snapshots', 'rm', snapshotName]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(parseJson<SnapshotEntry[]>(await env.cli(['snapshots', '--json'])), []);
  });
});
