import * as assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxController } from '../../src/core/controller';
import type { SandboxRecord } from '../../src/core/model';
import type { Droplet } from '../../src/core/providers/digitalocean/api/client';
import { NETWORK_READY, NETWORK_SCRIPT } from '../../src/core/providers/digitalocean/dropletAllowlist';
import { checkAllowlistReady } from '../../src/core/providers/digitalocean/dropletNetwork';
import { firewallSpec } from '../../src/core/providers/digitalocean/firewall';
import { DigitalOceanProvider } from '../../src/core/providers/digitalocean/provider';
import { setSshSources } from '../../src/core/providers/digitalocean/sshSources';
import { networkTag } from '../../src/core/providers/digitalocean/tags';
import { SshSession, targetFor } from '../../src/core/ssh/session';
import { StateStore } from '../../src/core/store/stateStore';
import { startCloud, type StandInCloud } from '../doStandIn/harness';
import { execIn, rootExec, uniqueName } from './helpers';
import { CONNECT_SCRIPT, ListenerNamespace, parseConnects } from './networkFixtures';

/**
 * Network policies on droplets, against the stand-in behind Prism: each droplet a real machine
 * booted by Debian's cloud-init from our user data. Two boots: an allowlist without sudo (the
 * containers' nft rules and a root-run dnsmasq, set from the user data) and `none` (a cloud
 * firewall without outbound rules, the droplet moved to it after its first connection).
 */
describe('DigitalOcean network policies (integration)', function () {
  this.timeout(600_000);
  const octet = 10 + Math.floor(Math.random() * 240);
  // Listeners in a network namespace of our own, on TEST-NET-3 addresses routed from this machine.
  const allowedAddress = `203.0.113.${octet}`;
  const deniedAddress = `203.0.113.${octet + 1}`;
  const namespace = new ListenerNamespace(`10.232.${octet}`, [allowedAddress, deniedAddress], 7070);
  let cloud: StandInCloud;
  let stateDir: string;
  let controller: SandboxController;
  let allowlisted: SandboxRecord;
  let offline: SandboxRecord;
  let ownerId: string;
  const env = () => ({ DIGITALOCEAN_TOKEN: cloud.token, AGENT_SANDBOXES_DIGITALOCEAN_URL: cloud.apiUrl });
  const dropletOf = (name: string): Droplet => cloud.standIn.state.droplets({}).find((candidate) => candidate.name === name)!;
  const containerOf = (name: string) => cloud.machines!.containerOf(dropletOf(name).id)!;
  const connects = async (name: string, targets: [string, number][]) => {
    const result = await controller.exec(name, { command: ['python3', '-c', CONNECT_SCRIPT, JSON.stringify(targets)] });
    assert.equal(result.exitCode, 0, result.stderr);
    return parseConnects(result.stdout);
  };

  before(async () => {
    await namespace.open();
    cloud = await startCloud({ bootDroplets: true, bootDelayMs: 300, actionDelayMs: 300 });
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'do-network-'));
    const provider = new DigitalOceanProvider({
      stateRoot: stateDir,
      env: env(),
      fetch: cloud.fetch,
      timing: { pollMs: 250, maxPollMs: 1000, bootTimeoutMs: 180_000 },
    });
    controller = new SandboxController({ store: new StateStore(stateDir), providers: { digitalocean: provider } });
    ownerId = await new StateStore(stateDir).ownerId();
    [allowlisted, offline] = await Promise.all([
      controller.create({
        provider: 'digitalocean',
        name: uniqueName('do-allow'),
        cloud: { region: 'nyc3' },
        profile: {
          network: 'allow:allowed.test',
          hosts: [`api.allowed.test:${allowedAddress}`, `other.test:${deniedAddress}`],
          sudo: false,
        },
      }),
      controller.create({ provider: 'digitalocean', name: uniqueName('do-none'), cloud: { region: 'nyc3' }, profile: { network: 'none' } }),
    ]);
  });

  afterEach(() => {
    assert.deepEqual(cloud.contractViolations, []);
    assert.deepEqual(cloud.standIn.internalErrors, []);
    assert.deepEqual(cloud.machines?.failures, []);
  });

  after(async () => {
    controller?.dispose();
    await cloud?.close();
    await namespace.close();
    if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('an allowlist without sudo: an allowed name connects, another name and its address are refused, the agent cannot lift the rules, a missing ready marker fails the check, and a power-on without the rules is powered off again', async () => {
    const name = allowlisted.name;
    assert.equal(allowlisted.state, 'running');
    // Still under default's firewall: the allowlist adds to it, inside the droplet.
    assert.ok(dropletOf(name).tags.includes(networkTag(ownerId, 'default')));
    const container = containerOf(name);
    await rootExec(container, `test -f ${NETWORK_READY}`);
    const upstream = (await rootExec(container, 'head -n 1 /etc/agent-sandboxes/upstream')).trim();
    assert.match(upstream, /^[0-9a-f.:]+$/);

    const hosts = await controller.exec(name, { command: ['getent', 'hosts', 'api.allowed.test'] });
    assert.match(hosts.stdout, new RegExp(`^${allowedAddress.replace(/\./g, '\\.')}\\s+api\\.allowed\\.test`), 'the --add-host entry is in /etc/hosts');
    const before = await connects(name, [
      ['api.allowed.test', 7070],
      ['other.test', 7070],
      [deniedAddress, 7070],
      // The upstream resolver answers root (the resolver) only.
      [upstream, 53],
    ]);
    assert.deepEqual(before, {
      'api.allowed.test 7070': 'ok',
      'other.test 7070': 'ConnectionRefusedError',
      [`${deniedAddress} 7070`]: 'ConnectionRefusedError',
      [`${upstream} 53`]: 'ConnectionRefusedError',
    });
    // A name outside the allowlist gets no answer from the droplet's resolver.
    const lookup = await controller.exec(name, { command: ['python3', '-c', 'import socket; socket.getaddrinfo("outside.example", 80)'] });
    assert.notEqual(lookup.exitCode, 0);
    assert.match(lookup.stderr, /gaierror/);

    // The agent, playing the attacker: no sudo, and nft refuses it.
    assert.notEqual((await controller.exec(name, { command: ['sudo', '-n', 'true'] })).exitCode, 0);
    const flush = await controller.exec(name, { command: ['sh', '-c', 'nft flush ruleset || /usr/sbin/nft flush ruleset'] });
    assert.notEqual(flush.exitCode, 0);
    await rootExec(container, 'nft list table inet agent_sandbox > /dev/null');
    assert.deepEqual(await connects(name, [[deniedAddress, 7070]]), { [`${deniedAddress} 7070`]: 'ConnectionRefusedError' });

    // The create's check over SSH: without the marker it fails; the script run again (as at every
    // boot, from bootcmd) puts everything back and writes it.
    const session = new SshSession(async () =>
      targetFor(name, allowlisted.ssh!, { privateKey: (await new StateStore(stateDir).clientKey(allowlisted.id)).privateKey }),
    );
    try {
      await rootExec(container, `rm -f ${NETWORK_READY}`);
      await assert.rejects(checkAllowlistReady(session, name, allowlisted.user), /was not in place after its first boot .*; create it again/);
      await rootExec(container, NETWORK_SCRIPT);
      await checkAllowlistReady(session, name, allowlisted.user);
    } finally {
      session.close();
    }
    assert.deepEqual(
      await connects(name, [
        ['api.allowed.test', 7070],
        [deniedAddress, 7070],
      ]),
      {
        'api.allowed.test 7070': 'ok',
        [`${deniedAddress} 7070`]: 'ConnectionRefusedError',
      },
    );

    // A power-on whose rules do not come up: the droplet is powered off again. Test equipment as
    // root keeps the rules from being set at the next boot (their script no longer runs).
    await rootExec(container, `rm -f ${NETWORK_READY} && chmod a-x ${NETWORK_SCRIPT}`);
    await controller.stop(name);
    await assert.rejects(controller.start(name), /was powered off again because its allowlist's rules were not in place at boot/);
    assert.equal(dropletOf(name).status, 'off', 'what the agent left to run at boot is stopped');

    // A sudo sandbox with an allowlist is refused before anything is made.
    await assert.rejects(
      controller.create({ provider: 'digitalocean', name: uniqueName('do-allow-sudo'), profile: { network: 'allow:allowed.test', sudo: true } }),
      /holds only without sudo \(root could lift it\)/,
    );
  });

  it('none: the droplet ends under none’s firewall only, SSH still works, ssh-source updates every firewall of ours, and a restore boots under none’s firewall installing nothing', async () => {
    const droplet = dropletOf(offline.name);
    const noneTag = networkTag(ownerId, 'none');
    assert.ok(droplet.tags.includes(noneTag));
    assert.ok(!droplet.tags.includes(networkTag(ownerId, 'default')), 'moved off default’s tag after the first connection');
    const covering = cloud.standIn.state.firewalls.list().filter((firewall) => (firewall.tags ?? []).some((tag) => droplet.tags.includes(tag)));
    assert.deepEqual(
      covering.map((firewall) => firewall.name),
      [`agent-sandboxes-${ownerId}-none`],
    );
    assert.deepEqual(covering[0]!.outbound_rules, []);
    const id = await controller.exec(offline.name, { command: ['id', '-un'] });
    assert.equal(id.stdout.trim(), 'agent');
    // The stand-in enforces the firewall's outbound rules (none: no rule, so nothing leaves but replies).
    await cloud.machines!.firewallsSettled(droplet.id);
    assert.deepEqual(await connects(offline.name, [[allowedAddress, 7070]]), { [`${allowedAddress} 7070`]: 'TimeoutError' });
    // The droplet itself is the test equipment's to look at: it booted and was reached over SSH.
    assert.equal((await execIn(containerOf(offline.name), ['cloud-init', 'status'])).code, 0);

    const oursNow = () => cloud.standIn.state.firewalls.list().filter((firewall) => firewall.name?.startsWith(`agent-sandboxes-${ownerId}-`));
    assert.deepEqual(
      oursNow()
        .map((firewall) => firewall.name)
        .sort(),
      [`agent-sandboxes-${ownerId}-default`, `agent-sandboxes-${ownerId}-none`],
      'creates at once made one firewall per policy',
    );
    // A duplicate of default's firewall (two processes made it at once): it is ours too.
    const duplicate = firewallSpec(ownerId, 'default', ['0.0.0.0/0', '::/0']);
    cloud.standIn.state.firewalls.create({
      name: duplicate.name,
      inbound_rules: duplicate.inboundRules,
      outbound_rules: duplicate.outboundRules,
      tags: duplicate.tags,
    });
    const result = await setSshSources(stateDir, ['198.51.100.0/24'], { env: env(), fetch: cloud.fetch });
    assert.equal(result.signedIn, true);
    const ours = oursNow();
    assert.equal(ours.length, 3);
    assert.deepEqual([...result.updated].sort(), ours.map((firewall) => firewall.name!).sort());
    for (const firewall of ours) assert.deepEqual(firewall.inbound_rules, [{ protocol: 'tcp', ports: '22', sources: { addresses: ['198.51.100.0/24'] } }]);
    assert.deepEqual(
      ours.find((firewall) => firewall.name === `agent-sandboxes-${ownerId}-none`)!.tags,
      [noneTag],
      'the tags and outbound rules stay as they were',
    );
    assert.deepEqual((await setSshSources(stateDir, ['198.51.100.0/24'], { env: env(), fetch: cloud.fetch })).updated, [], 'nothing differs the second time');

    // Hibernated, then restored: under none's firewall from its first moment (its disk is the
    // agent's, and what it left to run at boot runs then), and nothing to install.
    await controller.hibernate(offline.name);
    const restored = await controller.start(offline.name);
    assert.equal(restored.state, 'running');
    const again = dropletOf(offline.name);
    assert.notEqual(again.id, droplet.id);
    assert.ok(again.tags.includes(noneTag) && !again.tags.includes(networkTag(ownerId, 'default')), again.tags.join(' '));
    const userData = await rootExec(containerOf(offline.name), 'cat /var/lib/cloud/instance/user-data.txt');
    assert.match(userData, /^runcmd:$/m);
    assert.doesNotMatch(userData, /install-packages,/, 'a restore installs nothing');
    assert.equal((await controller.exec(offline.name, { command: ['id', '-un'] })).stdout.trim(), 'agent');
  });
});
