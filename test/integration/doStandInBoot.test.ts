/**
 * The whole stand-in cloud through the harness: the product's DigitalOcean client, Prism checking
 * DigitalOcean's contract, the stateful stand-in, and droplets that are real machines. A create
 * boots a container from its cloud-config; the agent logs in over OpenSSH against the pinned
 * host key; a snapshot restores as a new droplet; power off stops the machine; deletes remove
 * the containers and the image.
 */
import * as assert from 'node:assert/strict';
import { promises as fs, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { DigitalOceanClient, type Droplet } from '../../src/core/providers/digitalocean/api/client';
import { docker, rootExec, runProgram, tempDir, waitFor } from './helpers';
import { startCloud, type StandInCloud } from '../doStandIn/harness';
import { cloudConfig, keyPair, knownHostsLine, type KeyPair } from '../doStandIn/userData';

const TAG = 'agent-sandboxes';
/** What a cloud machine's first boot runs: here every package is in the droplet image already. */
const FIRST_BOOT: string[][] = [['install-packages', 'base', 'docker']];
const ACTIVE_TIMEOUT_MS = 90_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function engineImageExists(id: string): Promise<boolean> {
  return docker
    .getImage(id)
    .inspect()
    .then(
      () => true,
      () => false,
    );
}

describe('stand-in cloud with booted droplets, through the harness (integration)', function () {
  this.timeout(240_000);
  const dir = tempDir('do-standin-boot-');
  let cloud: StandInCloud | undefined;
  let client: DigitalOceanClient;
  let clientKey: KeyPair;
  let first: Droplet;
  let restored: Droplet;
  let snapshotId: string;
  let snapshotImage: string;

  function ssh(address: string, hostKey: KeyPair, command: string) {
    const knownHosts = path.join(dir, `known_hosts-${address}`);
    writeFileSync(knownHosts, knownHostsLine(address, hostKey));
    return runProgram('ssh', [
      '-F',
      '/dev/null',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'ConnectTimeout=10',
      '-i',
      clientKey.privatePath,
      `agent@${address}`,
      command,
    ]);
  }

  /** Polls as the product would; a droplet is `new`, without an address, until its machine's sshd answers. */
  async function untilActive(id: number): Promise<Droplet> {
    const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
    for (;;) {
      const droplet = await client.droplet(id);
      if (droplet.status === 'active') return droplet;
      assert.equal(droplet.status, 'new');
      assert.deepEqual(droplet.networks.v4, [], 'no address before the machine answers');
      if (Date.now() > deadline) assert.fail(`droplet ${id} was still new after ${ACTIVE_TIMEOUT_MS} ms: ${cloud?.machines?.failures.join('; ')}`);
      await sleep(250);
    }
  }

  function publicIpv4(droplet: Droplet): string {
    const address = droplet.networks.v4?.find((network) => network.type === 'public')?.ip_address;
    assert.ok(address, `droplet ${droplet.id} has a public IPv4`);
    return address;
  }

  async function containerOf(droplet: Droplet): Promise<Awaited<ReturnType<ReturnType<typeof docker.getContainer>['inspect']>>> {
    const id = cloud?.machines?.containerOf(droplet.id);
    assert.ok(id, `droplet ${droplet.id} has a container`);
    return docker.getContainer(id).inspect();
  }

  before(async function () {
    const started = Date.now();
    cloud = await startCloud({ bootDroplets: true, bootDelayMs: 200, actionDelayMs: 200 });
    console.log(`    stand-in cloud up (droplet image ${cloud.machines?.image}) in ${Date.now() - started} ms`);
    client = new DigitalOceanClient({ token: cloud.token, baseUrl: cloud.apiUrl, fetch: cloud.fetch, retry: { baseBackoffMs: 10, maxBackoffMs: 50 } });
    clientKey = await keyPair(dir, 'client');
  });

  afterEach(function () {
    assert.deepEqual(cloud?.contractViolations, [], 'requests or answers broke DigitalOcean’s contract');
    assert.deepEqual(cloud?.standIn.internalErrors, [], 'the stand-in failed');
    assert.deepEqual(cloud?.machines?.failures, [], 'a droplet machine failed');
  });

  after(async function () {
    const machines = cloud?.machines;
    try {
      await cloud?.close();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    // Nothing of this run is left on the engine, whatever happened above.
    assert.deepEqual(await machines?.containers(), []);
    assert.deepEqual(await machines?.images(), []);
  });

  it('boots a created droplet from its cloud-config: new until sshd answers, then active on 127.0.1.N, the agent in against the pinned host key', async function () {
    const hostKey = await keyPair(dir, 'host-first');
    const started = Date.now();
    const created = await client.createDroplet({
      name: 'sb-boot-1',
      region: 'nyc3',
      size: 's-1vcpu-1gb',
      image: 'ubuntu-24-04-x64',
      tags: [TAG],
      userData: cloudConfig(clientKey.publicKey, hostKey, FIRST_BOOT),
    });
    assert.equal(created.status, 'new');
    first = await untilActive(created.id);
    console.log(`    create to active in ${Date.now() - started} ms`);
    const address = publicIpv4(first);
    assert.match(address, /^127\.0\.1\.\d+$/);
    const run = await ssh(address, hostKey, 'id -un');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'agent\n');

    const container = await containerOf(first);
    assert.equal(container.Config.Hostname, 'sb-boot-1');
    assert.equal(container.Config.Labels['dev.agent-sandboxes.test.droplet'], cloud!.machines!.runLabel);
    const result = JSON.parse(await rootExec(container.Id, 'cat /run/cloud-init/result.json')) as { v1: { errors: string[] } };
    assert.deepEqual(result.v1.errors, []);
    // The first boot's package step found everything in the image: nothing fetched, nothing installed.
    assert.match(await rootExec(container.Id, 'cat /var/log/cloud-init-output.log'), /install-packages: everything for base docker is installed/);
  });

  it('snapshots the droplet; a droplet created from the snapshot id boots it with new user data and answers SSH', async function () {
    const snapshotStarted = Date.now();
    const action = await client.snapshotDroplet(first.id, 'sb-recipe-1');
    assert.equal(action.status, 'in-progress');
    assert.equal((await client.waitForAction(action.id!, 60_000)).status, 'completed');
    console.log(`    snapshot action completed in ${Date.now() - snapshotStarted} ms (the client polls at 1 s, 2 s, 4 s...)`);
    const snapshot = (await client.dropletSnapshots()).find((candidate) => candidate.name === 'sb-recipe-1');
    assert.ok(snapshot, 'the snapshot is listed');
    snapshotId = snapshot.id;
    snapshotImage = cloud!.machines!.imageOfSnapshot(snapshotId)!;
    assert.ok(snapshotImage && (await engineImageExists(snapshotImage)), 'the snapshot is an image on the engine');

    const hostKey = await keyPair(dir, 'host-restored');
    const started = Date.now();
    const created = await client.createDroplet({
      name: 'sb-boot-2',
      region: 'nyc3',
      size: 's-1vcpu-1gb',
      image: Number(snapshotId),
      tags: [TAG],
      userData: cloudConfig(clientKey.publicKey, hostKey, FIRST_BOOT),
    });
    restored = await untilActive(created.id);
    console.log(`    create from snapshot to active in ${Date.now() - started} ms`);
    assert.equal(restored.image.id, Number(snapshotId));
    assert.equal(restored.image.type, 'snapshot');
    const address = publicIpv4(restored);
    assert.notEqual(address, publicIpv4(first));
    assert.equal((await containerOf(restored)).Image, snapshotImage);
    const run = await ssh(address, hostKey, 'id -un');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'agent\n');
  });

  it('powers a droplet off (its container stopped, the droplet off) and on again', async function () {
    const off = await client.powerAction(first.id, 'power_off');
    assert.equal((await client.waitForAction(off.id!, 60_000)).status, 'completed');
    assert.equal((await client.droplet(first.id)).status, 'off');
    assert.equal((await containerOf(first)).State.Running, false);

    const powerOnStarted = Date.now();
    const on = await client.powerAction(first.id, 'power_on');
    assert.equal((await client.waitForAction(on.id!, 90_000)).status, 'completed');
    console.log(`    power_on completed in ${Date.now() - powerOnStarted} ms`);
    assert.equal((await client.droplet(first.id)).status, 'active');
    assert.equal((await containerOf(first)).State.Running, true);
  });

  it('deletes both droplets and their containers go; deleting the snapshot removes its image', async function () {
    const containers = await cloud!.containers();
    assert.equal(containers.length, 2);
    await client.deleteDroplet(first.id);
    await client.deleteDroplet(restored.id);
    await waitFor(async () => (await cloud!.containers()).length === 0, 30_000, 'the droplets’ containers to go');
    await client.deleteSnapshot(snapshotId);
    await waitFor(async () => !(await engineImageExists(snapshotImage)), 30_000, 'the snapshot’s image to go');
    assert.deepEqual(await cloud!.machines!.images(), []);
    assert.deepEqual(await client.dropletSnapshots(), []);
  });
});
