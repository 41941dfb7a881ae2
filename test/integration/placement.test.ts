import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import * as os from 'node:os';
import type { SshHost } from '../../src/core/hosts/registry';
import type { SandboxRecord } from '../../src/core/model';
import { fingerprint } from '../../src/core/ssh/keys';
import { choosePlacement, dockerTarget, listPlacementTargets, measurePlacement, reservedByTarget, sshTarget } from '../../src/core/tasks/placement';
import { TestEnvironment, ensureImage, uniqueName } from './helpers';
import { freePort } from './sshHostFixtures';

describe('task placement: measuring the machines', function () {
  // The SSH host is played by a sandbox container of another state dir: a real sshd on 127.0.0.1.
  const machine = new TestEnvironment();
  const env = new TestEnvironment();
  const hostName = uniqueName('box');
  const downName = uniqueName('down');
  const silentName = uniqueName('silent');
  let standIn: SandboxRecord;
  // Takes connections and never says a word: an SSH handshake there waits until it gives up.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });

  before(async function () {
    await ensureImage();
    standIn = await machine.controller.create({ name: uniqueName('standin') });
    // Its sshd answers a login before the host session (two quick attempts) first tries.
    assert.equal((await machine.controller.exec(standIn.id, { command: 'true' })).exitCode, 0);
    const hostKey = standIn.ssh!.hostKey.split(' ').slice(0, 2).join(' ');
    const host = (name: string, port: number): SshHost => ({
      name,
      host: '127.0.0.1',
      port,
      user: 'agent',
      identityFile: machine.store.clientKeyPath(standIn.id),
      hostKey,
      fingerprint: fingerprint(hostKey),
      docker: false,
      home: '/home/agent',
      addedAt: new Date().toISOString(),
    });
    await env.controller.sshHosts.hosts.add(host(hostName, standIn.ports['22']!));
    // Nothing listens there: a host that is down.
    await env.controller.sshHosts.hosts.add(host(downName, await freePort()));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    await env.controller.sshHosts.hosts.add(host(silentName, (silent.address() as net.AddressInfo).port));
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    env.controller.dispose();
    machine.controller.dispose();
    await env.dispose();
    await machine.dispose();
  });

  it('lists the local engine and every registered host', async function () {
    const targets = await listPlacementTargets(env.controller);
    assert.deepEqual(
      targets.map((target) => target.key),
      ['docker', ...[downName, hostName, silentName].sort((a, b) => a.localeCompare(b)).map((name) => `ssh:${name}`)],
    );
    assert.deepEqual(
      targets.find((target) => target.host === hostName),
      sshTarget(hostName),
    );
  });

  it('measures the local Docker engine: its CPUs and memory, and this machine’s load', async function () {
    const view = await measurePlacement(env.controller, dockerTarget());
    assert.equal(view.reachable, true, view.problem);
    assert.ok(view.capacity.cpus > 0 && view.capacity.memory > 0, JSON.stringify(view));
    assert.equal(view.capacity.declared, false);
    assert.ok(view.load, 'the engine is on this machine, so its load is read');
    assert.ok(view.load.cpus >= 0 && view.load.memory > 0 && view.load.memory <= os.totalmem() * 1.01, JSON.stringify(view.load));
  });

  it('takes a declared capacity over the measured one, part by part', async function () {
    const view = await measurePlacement(env.controller, dockerTarget(), { cpus: 1.5 });
    assert.equal(view.reachable, true, view.problem);
    assert.equal(view.capacity.cpus, 1.5);
    assert.ok(view.capacity.memory > 0);
    assert.equal(view.capacity.declared, true);
  });

  it('measures an SSH host through its connection: nproc, load average and meminfo', async function () {
    const view = await measurePlacement(env.controller, sshTarget(hostName));
    assert.equal(view.reachable, true, view.problem);
    assert.ok(Number.isInteger(view.capacity.cpus) && view.capacity.cpus > 0, JSON.stringify(view));
    assert.ok(view.capacity.memory > 0, JSON.stringify(view));
    assert.ok(view.load && view.load.cpus >= 0 && view.load.memory > 0 && view.load.memory <= view.capacity.memory, JSON.stringify(view));
  });

  it('reports a host that is down as unreachable with the reason, within the time allowed, never as an error', async function () {
    const began = Date.now();
    const view = await measurePlacement(env.controller, sshTarget(downName), undefined, { timeoutMs: 3000 });
    assert.ok(Date.now() - began < 4500, `took ${Date.now() - began} ms`);
    assert.equal(view.reachable, false);
    assert.ok(view.problem && view.problem.length > 0 && !view.problem.includes('\n'), view.problem);
    assert.equal(view.load, undefined);

    const gone = await measurePlacement(env.controller, sshTarget(uniqueName('never-added')));
    assert.equal(gone.reachable, false);
    assert.match(gone.problem!, /No SSH host is called/);
  });

  it('gives up on a host that does not answer once the time allowed has passed', async function () {
    const began = Date.now();
    const view = await measurePlacement(env.controller, sshTarget(silentName), { cpus: 4 }, { timeoutMs: 1500 });
    assert.ok(Date.now() - began < 3000, `took ${Date.now() - began} ms`);
    assert.equal(view.reachable, false);
    assert.equal(view.problem, `Host ${silentName} did not answer within 1.5 s; check that it is up.`);
    assert.deepEqual(view.capacity, { cpus: 4, memory: 0, declared: true }, 'what was declared is still shown');
  });

  it('chooses among the measured machines, and the hosts that do not answer never', async function () {
    const targets = await listPlacementTargets(env.controller);
    // The records as stored: a listing would wait on the silent host for its own SSH patience.
    const reserved = reservedByTarget(await env.store.listRecords());
    const views = await Promise.all(
      targets.map(async (target) => ({
        ...(await measurePlacement(env.controller, target, undefined, { timeoutMs: 3000 })),
        reserved: reserved.get(target.key) ?? { cpus: 0, memory: 0 },
      })),
    );
    const chosen = choosePlacement(views, { cpus: 0.5, memory: 256 * 1024 ** 2 });
    assert.ok(chosen, JSON.stringify(views));
    assert.ok(chosen.target.key === 'docker' || chosen.target.key === `ssh:${hostName}`, chosen.target.key);
    assert.deepEqual(
      views.filter((view) => !view.reachable).map((view) => view.target.host),
      [downName, silentName].sort((a, b) => a.localeCompare(b)),
    );
  });
});
