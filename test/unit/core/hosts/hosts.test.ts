import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readIdentityFile } from '../../../../src/core/hosts/credentials';
import {
  directoryPaths,
  landingCommand,
  parseFacts,
  parseListing,
  prlimitPlan,
  systemdPlan,
  type DirectoryMetadata,
} from '../../../../src/core/hosts/directory';
import { HostRegistry, validateAddress, validateUser, type SshHost } from '../../../../src/core/hosts/registry';
import { fingerprintMatches } from '../../../../src/core/hosts/scan';
import { isSandboxError } from '../../../../src/core/errors';
import type { Profile } from '../../../../src/core/model';
import { renderKnownHosts, renderSshConfig } from '../../../../src/core/ssh/config';
import { generateEd25519 } from '../../../../src/core/ssh/keys';

const profile: Profile = { image: '', cpus: 1.5, memory: 512 * 1024 ** 2, pids: 256, sudo: false };
const hostKey = generateEd25519('host').publicKey;

describe('SSH hosts: pieces', function () {
  it('keeps sandbox folders under ~/.agent-sandboxes/sandboxes and refuses ids that are not ours', function () {
    assert.deepEqual(directoryPaths('/home/me', '0123456789ab'), {
      root: '/home/me/.agent-sandboxes/sandboxes',
      dir: '/home/me/.agent-sandboxes/sandboxes/0123456789ab',
      workdir: '/home/me/.agent-sandboxes/sandboxes/0123456789ab/workspace',
    });
    for (const id of ['..', '../x', '0123456789a', '0123456789ab/..', '0123456789AB', '']) {
      assert.throws(
        () => directoryPaths('/home/me', id),
        (error: unknown) => isSandboxError(error, 'invalid-input'),
        id,
      );
    }
    assert.throws(() => directoryPaths('relative', '0123456789ab'));
  });

  it('reads what the host can give, and limits per process with prlimit below the hard limits', function () {
    const facts = parseFacts('home=/home/me\nuid=1000\ncpus=4\nmemory_kb=2048000\nhard_AS=unlimited\nhard_NPROC=200\n');
    assert.deepEqual(facts, {
      home: '/home/me',
      uid: 1000,
      cpus: 4,
      memory: 2048000 * 1024,
      sudo: false,
      systemd: false,
      hardLimits: { as: Infinity, nproc: 200 },
    });
    const plan = prlimitPlan(profile, facts, 'me');
    assert.deepEqual(plan.prefix, ['prlimit', `--as=${512 * 1024 ** 2}:${512 * 1024 ** 2}`, '--nproc=200:200', '--']);
    assert.match(plan.description, /address space 512 MiB/);
    assert.match(plan.description, /not limited: CPU, disk/);
    assert.match(plan.description, /not fenced/);
    const bare = prlimitPlan(profile, parseFacts('home=/root\nuid=0\n'), 'root');
    assert.equal(bare.mode, 'none');
    assert.deepEqual(bare.prefix, []);
  });

  it('claims only the systemd limits a scope in the slice really had', function () {
    const all = systemdPlan('agentsandboxes-0123456789ab.slice', profile, `memory.max=${512 * 1024 ** 2}\ncpu.max=150000 100000\npids.max=256\n`);
    assert.equal(all?.mode, 'systemd');
    assert.deepEqual(all?.prefix.slice(0, 3), ['systemd-run', '--user', '--scope']);
    assert.match(all!.description, /^memory 512 MiB, 1\.5 CPUs, 256 processes for the sandbox as a whole/);
    assert.match(all!.description, /not limited: disk/);
    const partial = systemdPlan('s.slice', profile, 'memory.max=missing\ncpu.max=missing\npids.max=256\n');
    assert.match(partial!.description, /^256 processes for the sandbox as a whole .*not limited: memory 512 MiB, 1\.5 CPUs, disk/);
    assert.equal(systemdPlan('s.slice', profile, 'memory.max=missing\ncpu.max=missing\npids.max=max\n'), undefined, 'nothing took: fall back');
  });

  it('lists only well-formed folders of this owner', function () {
    const metadata = (owner: string, id: string, host = 'box'): DirectoryMetadata => ({
      format: 1,
      owner,
      host,
      id,
      name: `n-${id}`,
      agentId: 'a',
      profile,
      user: 'me',
      createdAt: '2024-01-01T00:00:00Z',
      limits: { mode: 'none', prefix: [], description: 'x' },
    });
    const output = [
      `0123456789ab running 2024-01-02T00:00:00Z ${JSON.stringify(metadata('me', '0123456789ab'))}`,
      `ba9876543210 stopped 2024-01-03T00:00:00Z ${JSON.stringify(metadata('someone-else', 'ba9876543210'))}`,
      `aaaaaaaaaaaa running - ${JSON.stringify(metadata('me', 'bbbbbbbbbbbb'))}`, // id does not match its folder
      'cccccccccccc running - {not json',
      `dddddddddddd running - ${JSON.stringify(metadata('me', 'dddddddddddd', 'same-machine-other-name'))}`,
    ].join('\n');
    const listed = parseListing(output, { ownerId: 'me', host: 'box' });
    assert.deepEqual(
      listed.map((entry) => [entry.id, entry.state, entry.since]),
      [['0123456789ab', 'running', '2024-01-02T00:00:00Z']],
    );
    assert.equal(parseListing(output).length, 3, 'any owner and host when none is given');
  });

  it('lands an OpenSSH login in the folder, with the marker and the limits', function () {
    const run = { cwd: "/home/it's/ws", env: { AGENT_SANDBOX_ID: '0123456789ab' }, prefix: ['prlimit', '--as=1:1', '--'] };
    assert.equal(
      landingCommand(run, ['echo', 'hi;', 'exit', '3']),
      `cd '/home/it'\\''s/ws' || exit 255; AGENT_SANDBOX_ID='0123456789ab'; export AGENT_SANDBOX_ID; exec 'prlimit' '--as=1:1' '--' /bin/sh -c 'echo hi; exit 3'`,
    );
    assert.match(landingCommand(run), /exec 'prlimit' '--as=1:1' '--' "\$\{SHELL:-\/bin\/sh\}" -l$/);
  });

  it('writes a ProxyJump block for a container on a host, and the host once with its pinned key', function () {
    const jump = {
      alias: 'agent-sandboxes-host-box',
      endpoint: { host: '192.0.2.1', port: 2222, user: 'me', hostKey },
      hostKeyAlias: 'agent-sandboxes-host-box',
      identityFile: '/k/id',
    };
    const entries = ['a', 'b'].map((name) => ({
      alias: `sandbox-${name}`,
      endpoint: { host: '127.0.0.1', port: 40000, user: 'agent', hostKey },
      hostKeyAlias: `agent-sandbox-${name}`,
      identityFile: `/keys/${name}`,
      jump,
    }));
    const config = renderSshConfig(entries, '/state/known_hosts');
    assert.equal(config.match(/^Host agent-sandboxes-host-box$/gm)?.length, 1);
    assert.equal(config.match(/^ {2}ProxyJump agent-sandboxes-host-box$/gm)?.length, 2);
    const known = renderKnownHosts(entries).trim().split('\n');
    assert.deepEqual(
      known.map((line) => line.split(' ')[0]),
      ['agent-sandbox-a', 'agent-sandbox-b', 'agent-sandboxes-host-box'],
    );
  });

  it('accepts only addresses, users and keys an SSH config can hold safely', async function () {
    for (const bad of ['-oProxyCommand=x', 'a b', 'host\nHost *', '']) assert.throws(() => validateAddress(bad), bad);
    for (const good of ['192.0.2.1', 'build.example.com', '::1', 'fe80::1%eth0']) validateAddress(good);
    assert.throws(() => validateUser('-l'));
    assert.throws(() => validateUser('me\nx'));
    assert.ok(fingerprintMatches(' SHA256:abc= ', 'SHA256:abc'));
    assert.ok(!fingerprintMatches('SHA256:abd', 'SHA256:abc'));

    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssh-hosts-unit-'));
    const key = path.join(dir, 'id');
    await fs.writeFile(key, generateEd25519('me').privateKey, { mode: 0o644 });
    await assert.rejects(readIdentityFile(key), /chmod 600/);
    await fs.chmod(key, 0o600);
    assert.match(await readIdentityFile(key), /BEGIN OPENSSH PRIVATE KEY/);
    await fs.writeFile(`${key}.pub`, hostKey, { mode: 0o600 });
    await assert.rejects(readIdentityFile(`${key}.pub`), /public key|not a private SSH key/);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps hosts in 0600 files and never replaces one by adding it again', async function () {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssh-hosts-unit-'));
    const registry = new HostRegistry(dir);
    const host: SshHost = {
      name: 'box',
      host: '192.0.2.1',
      port: 22,
      user: 'me',
      agent: true,
      hostKey,
      fingerprint: 'SHA256:x',
      docker: false,
      home: '/home/me',
      addedAt: '2024-01-01T00:00:00Z',
    };
    await registry.add(host);
    assert.equal((await fs.stat(path.join(dir, 'hosts', 'box.json'))).mode & 0o777, 0o600);
    await assert.rejects(registry.add({ ...host, hostKey: generateEd25519('other').publicKey }), (error: unknown) => isSandboxError(error, 'conflict'));
    assert.equal((await registry.get('box')).hostKey, hostKey);
    assert.deepEqual(
      (await registry.list()).map((entry) => entry.name),
      ['box'],
    );
    await registry.remove('box');
    await assert.rejects(registry.get('box'), (error: unknown) => isSandboxError(error, 'not-found'));
    await fs.rm(dir, { recursive: true, force: true });
  });
});
