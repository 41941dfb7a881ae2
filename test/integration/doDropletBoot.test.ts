/**
 * A stand-in droplet boots from cloud-config user data of the form a DigitalOcean create sends,
 * with Debian's real cloud-init, and is then reachable only as the product expects: the agent
 * user with its key, against the host key the user data installed (pinned, no trust on first
 * use), no passwords, no root, and the metadata address blocked for everyone but root.
 */
import * as assert from 'node:assert/strict';
import { promises as fs, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { rootExec, runProgram, tempDir, uniqueName } from './helpers';
import {
  ensureDropletImage,
  rebootDroplet,
  removeDroplets,
  removeSnapshots,
  snapshotDroplet,
  startDroplet,
  type DropletContainer,
} from '../doStandIn/dropletContainer';
import { METADATA_ADDRESS, cloudConfig, keyPair } from '../doStandIn/userData';

describe('stand-in droplet booted by cloud-init (integration)', function () {
  this.timeout(180_000);
  const runLabel = uniqueName('droplet-boot');
  const made: string[] = [];
  const madeImages: string[] = [];
  const dir = tempDir('droplet-boot-');
  let droplet: DropletContainer;
  let client: { privatePath: string; publicKey: string };
  let knownHosts: string;
  let userData: string;
  let dropletIndex: number;

  function ssh(user: string, command: string, extra: string[] = [], hostsFile = knownHosts) {
    return runProgram('ssh', [
      '-F',
      '/dev/null',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${hostsFile}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'ConnectTimeout=10',
      '-i',
      client.privatePath,
      ...extra,
      `${user}@${droplet.ipv4}`,
      command,
    ]);
  }

  before(async function () {
    const buildStart = Date.now();
    const image = await ensureDropletImage();
    console.log(`    droplet image ${image} ready in ${Date.now() - buildStart} ms`);
    const clientKey = await keyPair(dir, 'client');
    const hostKey = await keyPair(dir, 'host');
    client = clientKey;
    // A per-run index keeps parallel runs off each other's address.
    const index = 2 + Math.floor(Math.random() * 249);
    dropletIndex = index;
    const bootStart = Date.now();
    userData = cloudConfig(clientKey.publicKey, hostKey);
    droplet = await startDroplet({ image, userData, index, name: runLabel, runLabel, made });
    console.log(`    booted to sshd on ${droplet.ipv4}:${droplet.port} in ${Date.now() - bootStart} ms`);
    knownHosts = path.join(dir, 'known_hosts');
    writeFileSync(knownHosts, `${droplet.ipv4} ${hostKey.publicKey.split(' ').slice(0, 2).join(' ')}\n`);
  });

  after(async function () {
    await removeDroplets(made);
    await removeSnapshots(madeImages);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('ran every cloud-init stage from the NoCloud seed without errors', async function () {
    const result = JSON.parse(await rootExec(droplet.id, 'cat /run/cloud-init/result.json')) as { v1: { datasource: string; errors: string[] } };
    assert.deepEqual(result.v1.errors, []);
    assert.match(result.v1.datasource, /DataSourceNoCloud/);
    assert.match(await rootExec(droplet.id, 'cloud-init status'), /status: done/);
    assert.equal((await rootExec(droplet.id, 'stat -c %a /var/lib/cloud/seed/nocloud/user-data')).trim(), '600');
  });

  it('lets the agent in with its key against the pinned host key from the user data', async function () {
    const run = await ssh('agent', 'id -un; ls /etc/ssh/ssh_host_*_key');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'agent\n/etc/ssh/ssh_host_ed25519_key\n');
  });

  it('refuses a host whose key is not the pinned one', async function () {
    const other = await keyPair(dir, 'other-host');
    const wrongHosts = path.join(dir, 'wrong_known_hosts');
    writeFileSync(wrongHosts, `${droplet.ipv4} ${other.publicKey.split(' ').slice(0, 2).join(' ')}\n`);
    const run = await ssh('agent', 'true', [], wrongHosts);
    assert.equal(run.code, 255);
    assert.match(run.stderr, /Host key verification failed/);
  });

  it('refuses password login: only keys are offered', async function () {
    const run = await ssh('agent', 'true', ['-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive']);
    assert.equal(run.code, 255);
    assert.match(run.stderr, /Permission denied \(publickey\)/);
    const effective = await rootExec(droplet.id, 'sshd -T');
    assert.match(effective, /^passwordauthentication no$/m);
    assert.match(effective, /^kbdinteractiveauthentication no$/m);
  });

  it('refuses root login, even with the agent key', async function () {
    const run = await ssh('root', 'true');
    assert.equal(run.code, 255);
    assert.match(run.stderr, /Permission denied/);
  });

  it('serves the user data at the metadata address to root only, blocked in the kernel for the agent', async function () {
    const read = `python3 -c 'import urllib.request; print(urllib.request.urlopen("http://${METADATA_ADDRESS}/metadata/v1/user-data", timeout=5).read().decode(), end="")'`;
    // Root reads it, as cloud-init on a droplet would. Only once the address is known to be the
    // droplet's own (on its loopback), so no request can go past the container.
    assert.match(await rootExec(droplet.id, 'ip -o addr show dev lo'), new RegExp(`inet ${METADATA_ADDRESS}/32`));
    assert.equal(await rootExec(droplet.id, read), userData);
    const run = await ssh('agent', read);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /Connection refused/);
    const rules = await rootExec(droplet.id, 'nft list table inet metadata');
    assert.ok(rules.includes(`ip daddr ${METADATA_ADDRESS} meta skuid != 0 reject`), rules);
  });

  it('comes back after a reboot with the same pinned host key, the seed kept and the metadata block set again', async function () {
    const bootStart = Date.now();
    await rebootDroplet(droplet);
    console.log(`    rebooted to sshd in ${Date.now() - bootStart} ms`);
    const run = await ssh('agent', 'id -un');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'agent\n');
    const result = JSON.parse(await rootExec(droplet.id, 'cat /run/cloud-init/result.json')) as { v1: { errors: string[] } };
    assert.deepEqual(result.v1.errors, []);
    assert.match(await rootExec(droplet.id, 'nft list table inet metadata'), /meta skuid != 0 reject/);
    assert.match(await rootExec(droplet.id, 'ip -o addr show dev lo'), new RegExp(`inet ${METADATA_ADDRESS}/32`));
  });

  it('restores from a snapshot as a new instance: cloud-init installs the host key of the new user data', async function () {
    const snapshotStart = Date.now();
    const snapshot = await snapshotDroplet(droplet, runLabel, madeImages);
    const newHostKey = await keyPair(dir, 'restored-host');
    const restoreStart = Date.now();
    const restored = await startDroplet({
      image: snapshot,
      userData: cloudConfig(client.publicKey, newHostKey),
      index: dropletIndex + 1,
      name: `${runLabel}-restored`,
      runLabel,
      made,
    });
    console.log(`    snapshot in ${restoreStart - snapshotStart} ms, restored to sshd in ${Date.now() - restoreStart} ms`);
    const restoredHosts = path.join(dir, 'restored_known_hosts');
    writeFileSync(restoredHosts, `${restored.ipv4} ${newHostKey.publicKey.split(' ').slice(0, 2).join(' ')}\n`);
    const stalePinned = path.join(dir, 'stale_known_hosts');
    writeFileSync(stalePinned, readFileSync(knownHosts, 'utf8').replace(droplet.ipv4, restored.ipv4));
    const ownDroplet = droplet;
    try {
      droplet = restored;
      const run = await ssh('agent', 'id -un', [], restoredHosts);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, 'agent\n');
      const stale = await ssh('agent', 'true', [], stalePinned);
      assert.equal(stale.code, 255);
      assert.match(stale.stderr, /Host key verification failed/);
      const result = JSON.parse(await rootExec(restored.id, 'cat /run/cloud-init/result.json')) as { v1: { errors: string[] } };
      assert.deepEqual(result.v1.errors, []);
    } finally {
      droplet = ownDroplet;
    }
  });
});
