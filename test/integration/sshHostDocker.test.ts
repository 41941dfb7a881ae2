import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isSandboxError } from '../../src/core/errors';
import { HostRegistry, type SshHost } from '../../src/core/hosts/registry';
import type { SandboxRecord } from '../../src/core/model';
import { LABELS } from '../../src/core/labels';
import { containerOwner, dockerOverSsh } from '../../src/core/providers/sshHost';
import { generateEd25519 } from '../../src/core/ssh/keys';
import { SshSession, targetFor } from '../../src/core/ssh/session';
import { TestEnvironment, docker, ensureImage, runProgram, tempDir, uniqueName } from './helpers';
import { CONNECT_SCRIPT, helloServer, hostAddresses, parseConnects } from './networkFixtures';
import { parseJson, removeHostContainers, readTerminal, startRootSshd, type RootSshd } from './sshHostFixtures';

describe('SSH hosts: containers on a host with Docker', function () {
  // The host is this machine, through an OpenSSH server of our own on 127.0.0.1 that logs in as
  // root (who can use the local engine) with a key made here.
  const env = new TestEnvironment();
  const hostName = uniqueName('dockerhost');
  let sshd: RootSshd;
  let sshdDir: string;
  let port: number;
  let hostFingerprint: string;
  let sandbox: SandboxRecord;

  before(async function () {
    await ensureImage();
    sshd = await startRootSshd();
    ({ dir: sshdDir, port, hostFingerprint } = sshd);
  });
  after(async () => {
    env.controller.dispose();
    await removeHostContainers(env, hostName);
    await env.dispose();
    await sshd?.stop();
  });

  it('finds Docker at `host add`, makes the sandbox a container there, and reaches it through the host', async function () {
    const added = parseJson<SshHost>(
      await env.cli([
        'host',
        'add',
        hostName,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--user',
        'root',
        '--identity',
        path.join(sshdDir, 'client_key'),
        '--fingerprint',
        hostFingerprint,
        '--json',
      ]),
    );
    assert.equal(added.docker, true);
    assert.equal(added.fingerprint, hostFingerprint);

    const project = tempDir('ssh-host-docker-project-');
    await fs.writeFile(path.join(project, 'note.txt'), 'carried over\n');
    sandbox = parseJson<SandboxRecord>(await env.cli(['start', '--host', hostName, '--name', uniqueName('on-host'), project, '--json']));
    assert.deepEqual(sandbox.placement, { host: hostName, kind: 'container' });
    assert.deepEqual(sandbox.ports, {}, 'nothing is published on this side');
    assert.equal(sandbox.ssh?.jump?.port, port, 'its sshd is reached through the host');
    const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${containerOwner(await env.ownerId(), added)}`] } });
    assert.equal(containers.length, 1);
    assert.equal(containers[0]!.Labels[LABELS.id], sandbox.id);
    assert.deepEqual(
      parseJson<SandboxRecord[]>(await env.cli(['list', '--json'])).map((record) => record.id),
      [sandbox.id],
      'listed once, as an ssh sandbox',
    );

    const inside = await env.controller.exec(sandbox.id, { command: 'id -un; cat note.txt' });
    assert.equal(inside.stdout, 'agent\ncarried over\n');
    const cliExec = await env.cli(['exec', sandbox.name, '--', 'sh', '-c', 'echo via-cli; exit 6']);
    assert.equal(cliExec.code, 6, cliExec.stderr);
    assert.equal(cliExec.stdout, 'via-cli\n');

    const config = await fs.readFile(env.store.sshConfigPath, 'utf8');
    assert.match(config, new RegExp(`^  ProxyJump agent-sandboxes-host-${hostName}$`, 'm'));
    const login = await runProgram('ssh', ['-F', env.store.sshConfigPath, '-o', 'BatchMode=yes', `sandbox-${sandbox.name}`, 'id -un']);
    assert.equal(login.code, 0, login.stderr);
    assert.equal(login.stdout, 'agent\n');
    const viaCli = await env.cli(['ssh', sandbox.name, '--', 'cat', 'workspace/note.txt']);
    assert.equal(viaCli.stdout, 'carried over\n', viaCli.stderr);
  });

  it('opens a terminal in the container through the host: a PTY over its own sshd, as the agent in its workspace', async function () {
    const terminal = await env.controller.openTerminal(sandbox.id, { size: { columns: 100, rows: 30 } });
    const screen = readTerminal(terminal);
    terminal.write('echo "$(id -un) in $(pwd)"; cat note.txt; stty size; echo "$TERM $LANG"\n');
    await screen.shows(/\ragent in \/home\/agent\/workspace\r\ncarried over\r\n30 100\r\nxterm-256color C.UTF-8\r\n/);
    await terminal.resize({ columns: 120, rows: 40 });
    terminal.write('stty size; exit 3\n');
    await screen.shows(/\r40 120\r\n/);
    assert.equal(await terminal.exited, 3);
  });

  it("gives the container the default network policy through the host's engine", async function () {
    const server = await helloServer('0.0.0.0');
    try {
      const containerId = sandbox.providerRef!.split('/').pop()!;
      const gateway = Object.values((await docker.getContainer(containerId).inspect()).NetworkSettings.Networks)[0]!.Gateway;
      assert.match(gateway, /^\d+\.\d+\.\d+\.\d+$/, 'the container has a gateway to try');
      // The host's addresses come from a probe on its own network (the engine is remote here).
      const targets = [...new Set([gateway, ...hostAddresses().filter((address) => !address.includes(':'))])].map((address) => [address, server.port]);
      const result = await env.controller.exec(sandbox.id, { command: ['sudo', 'python3', '-c', CONNECT_SCRIPT, JSON.stringify(targets)] });
      const outcomes = parseConnects(result.stdout);
      assert.equal(Object.keys(outcomes).length, targets.length, result.stderr);
      for (const [target, outcome] of Object.entries(outcomes)) assert.notEqual(outcome, 'ok', `${target} answered: ${result.stdout}`);
    } finally {
      server.close();
    }
    assert.match((await env.cli(['status', sandbox.name])).stdout, /^network +default \(the internet/m);
  });

  it("refuses the host's Docker engine when the host presents another key", async function () {
    const host = await new HostRegistry(env.stateDir).get(hostName);
    const impostor = { ...host, hostKey: generateEd25519('impostor').publicKey };
    const session = new SshSession(async () => targetFor('impostor', impostor, { privateKey: await fs.readFile(path.join(sshdDir, 'client_key'), 'utf8') }), {
      connectAttempts: 1,
    });
    try {
      await assert.rejects(dockerOverSsh(impostor, session).ping(), (error: unknown) => isSandboxError(error, 'host-key-mismatch'));
    } finally {
      session.close();
    }
    const session2 = new SshSession(async () => targetFor('host', host, { privateKey: await fs.readFile(path.join(sshdDir, 'client_key'), 'utf8') }), {
      connectAttempts: 1,
    });
    try {
      await dockerOverSsh(host, session2).ping();
    } finally {
      session2.close();
    }
  });

  it('stops, starts and removes the container with the sandbox', async function () {
    assert.equal((await env.cli(['stop', sandbox.name])).code, 0);
    assert.equal(parseJson<SandboxRecord>(await env.cli(['status', sandbox.name, '--json'])).state, 'stopped');
    assert.equal((await env.cli(['start', sandbox.name])).code, 0);
    assert.equal((await env.cli(['exec', sandbox.name, '--', 'echo', 'back'])).stdout, 'back\n');
    assert.equal((await env.cli(['rm', sandbox.name])).code, 0);
    const owner = containerOwner(await env.ownerId(), { name: hostName } as SshHost);
    assert.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${owner}`] } }), []);
    assert.equal((await env.cli(['host', 'rm', hostName])).code, 0);
    assert.doesNotMatch(await fs.readFile(env.store.sshConfigPath, 'utf8'), /agent-sandboxes-host-/);
  });
});
