import * as assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DigitalOceanClient, Firewall, NewFirewall } from '../../../../../src/core/providers/digitalocean/api/client';
import { DigitalOceanError } from '../../../../../src/core/providers/digitalocean/api/errors';
import {
  checkAllowlistOs,
  dropletNetworkUserData,
  hostsLines,
  NETWORK_READY,
  NETWORK_SCRIPT,
} from '../../../../../src/core/providers/digitalocean/dropletAllowlist';
import { firewallProblem } from '../../../../../src/core/providers/digitalocean/bootFence';
import { bootTagOf, confirmFirewall, moveTag, settleDropletNetwork } from '../../../../../src/core/providers/digitalocean/dropletNetwork';
import { applySshSources, ensureFirewall, firewallPolicyOf, firewallSpec } from '../../../../../src/core/providers/digitalocean/firewall';
import { parseSshSources } from '../../../../../src/core/providers/digitalocean/sshSourceCidrs';
import { readSshSources, setSshSources, sshSourcesFile } from '../../../../../src/core/providers/digitalocean/sshSources';
import { dropletUserData } from '../../../../../src/core/providers/digitalocean/userData';
import { parseHostEntry } from '../../../../../src/core/network/policy';
import { DENIED_RANGES_V4 } from '../../../../../src/core/network/rules';

const toNumber = (address: string) => address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
const span = (cidr: string) => 2 ** (32 - Number(cidr.split('/')[1]));
const covers = (cidrs: string[], address: string) =>
  cidrs.some((cidr) => toNumber(address) >= toNumber(cidr.split('/')[0]!) && toNumber(address) < toNumber(cidr.split('/')[0]!) + span(cidr));

/** A client of firewalls and tags in memory that notes every call, in order. */
class FakeClient {
  readonly calls: string[] = [];
  constructor(public stored: Firewall[]) {}
  async firewalls(): Promise<Firewall[]> {
    this.calls.push('GET firewalls');
    return structuredClone(this.stored);
  }
  async firewall(id: string): Promise<Firewall> {
    this.calls.push(`GET firewall ${id}`);
    const found = this.stored.find((firewall) => firewall.id === id);
    if (!found) throw new DigitalOceanError('not-found', 'gone');
    return structuredClone(found);
  }
  async createFirewall(spec: NewFirewall): Promise<Firewall> {
    this.calls.push(`POST ${spec.name}`);
    const made = { id: `fw-${this.stored.length + 1}`, name: spec.name, inbound_rules: spec.inboundRules, outbound_rules: spec.outboundRules, tags: spec.tags };
    this.stored.push(made);
    return structuredClone(made);
  }
  async updateFirewall(id: string, spec: NewFirewall): Promise<Firewall> {
    this.calls.push(`PUT ${id}`);
    const index = this.stored.findIndex((firewall) => firewall.id === id);
    this.stored[index] = { id, name: spec.name, inbound_rules: spec.inboundRules, outbound_rules: spec.outboundRules, tags: spec.tags };
    return structuredClone(this.stored[index]!);
  }
  async createTag(tag: string): Promise<{ name: string }> {
    this.calls.push(`make tag ${tag}`);
    return { name: tag };
  }
  async tagDroplet(tag: string, id: number): Promise<void> {
    this.calls.push(`tag ${id} ${tag}`);
  }
  async untagDroplet(tag: string, id: number): Promise<void> {
    this.calls.push(`untag ${id} ${tag}`);
  }
  asClient(): DigitalOceanClient {
    return this as unknown as DigitalOceanClient;
  }
}

function stored(spec: NewFirewall, id: string): Firewall {
  return { id, name: spec.name, inbound_rules: spec.inboundRules, outbound_rules: spec.outboundRules, tags: spec.tags };
}

describe('DigitalOcean droplet network', () => {
  describe('firewall specs', () => {
    it('builds default from the ranges the containers refuse, so reserved ranges such as 192.0.0.0/24 are out and nothing else is', () => {
      const destinations = firewallSpec('abc', 'default', ['0.0.0.0/0']).outboundRules[0]!.destinations!.addresses!;
      for (const address of ['192.0.0.1', '192.0.0.255', '10.0.0.1', '100.64.0.1', '169.254.169.254', '240.0.0.1', '255.255.255.255', '224.0.0.1'])
        assert.ok(!covers(destinations, address), address);
      for (const address of ['8.8.8.8', '192.0.1.1', '191.255.255.255', '223.255.255.255', '198.51.100.7']) assert.ok(covers(destinations, address), address);
      const total = destinations.reduce((sum, cidr) => sum + span(cidr), 0);
      assert.equal(total, 2 ** 32 - DENIED_RANGES_V4.reduce((sum, cidr) => sum + span(cidr), 0), 'the complement covers exactly the rest of the space');
    });

    it('gives none no outbound rule and its own tag, and keeps an allowlist under default', () => {
      const none = firewallSpec('abc', 'none', ['203.0.113.0/24']);
      assert.deepEqual(none.outboundRules, []);
      assert.deepEqual(none.inboundRules, [{ protocol: 'tcp', ports: '22', sources: { addresses: ['203.0.113.0/24'] } }]);
      assert.deepEqual(none.tags, ['agent-sandboxes-abc-net-none']);
      assert.equal(firewallPolicyOf('allow:example.com'), 'default');
      assert.equal(firewallPolicyOf('none'), 'none');
      assert.equal(bootTagOf('abc', 'none'), 'agent-sandboxes-abc-net-default', 'none boots under default (cloud-init reaches the mirror)');
      assert.equal(bootTagOf('abc', 'allow:example.com'), 'agent-sandboxes-abc-net-default');
      assert.equal(bootTagOf('abc', 'open'), 'agent-sandboxes-abc-net-open');
    });
  });

  describe('firewall updates', () => {
    it('puts right every firewall of the name whose rules differ, creates a missing one, and leaves a matching one alone', async () => {
      const spec = firewallSpec('abc', 'default', ['203.0.113.0/24']);
      const old = firewallSpec('abc', 'default', ['0.0.0.0/0', '::/0']);
      const client = new FakeClient([stored(old, 'fw-a'), stored(spec, 'fw-b'), stored(old, 'fw-c')]);
      const known = new Map<string, Firewall>();
      await ensureFirewall(client.asClient(), spec, known, undefined);
      assert.deepEqual(client.calls, ['GET firewalls', 'PUT fw-a', 'PUT fw-c']);
      client.calls.length = 0;
      await ensureFirewall(client.asClient(), spec, known, undefined);
      assert.deepEqual(client.calls, ['GET firewall fw-a'], 'a firewall this process saw as wanted is read afresh, by itself');
      // Removed elsewhere (the control panel): never trusted from memory, made again.
      client.stored = client.stored.filter((firewall) => firewall.id !== 'fw-a');
      client.calls.length = 0;
      const remade = await ensureFirewall(client.asClient(), spec, known, undefined);
      assert.deepEqual(client.calls, ['GET firewall fw-a', 'GET firewalls']);
      assert.equal(remade.id, 'fw-b', 'another firewall of the name serves');
      client.calls.length = 0;

      const none = firewallSpec('abc', 'none', ['203.0.113.0/24']);
      await ensureFirewall(client.asClient(), none, known, undefined);
      assert.deepEqual(client.calls, ['GET firewalls', `POST ${none.name}`]);
    });

    it('treats "all" ports and another order of addresses as the same rule', async () => {
      const spec = firewallSpec('abc', 'open', ['203.0.113.0/24', '198.51.100.0/24']);
      const echoed = stored(spec, 'fw-a');
      echoed.inbound_rules = [{ protocol: 'tcp', ports: '22', sources: { addresses: ['198.51.100.0/24', '203.0.113.0/24'] } }];
      echoed.outbound_rules = spec.outboundRules.map((rule) => ({ ...rule, ports: 'all' }));
      const client = new FakeClient([echoed]);
      await ensureFirewall(client.asClient(), spec, new Map(), undefined);
      assert.deepEqual(client.calls, ['GET firewalls']);
    });

    it('sets SSH sources on every firewall of this owner whose inbound rule differs, duplicates included, keeping outbound rules and tags', async () => {
      const anywhere = ['0.0.0.0/0', '::/0'];
      const client = new FakeClient([
        stored(firewallSpec('abc', 'default', anywhere), 'fw-1'),
        stored(firewallSpec('abc', 'default', anywhere), 'fw-2'),
        stored(firewallSpec('abc', 'none', ['203.0.113.0/24']), 'fw-3'),
        stored(firewallSpec('other', 'default', anywhere), 'fw-4'),
      ]);
      const updated = await applySshSources(client.asClient(), 'abc', ['203.0.113.0/24']);
      assert.deepEqual(
        updated.map((firewall) => firewall.id),
        ['fw-1', 'fw-2'],
      );
      assert.deepEqual(client.stored[0]!.outbound_rules, firewallSpec('abc', 'default', anywhere).outboundRules);
      assert.deepEqual(client.stored[0]!.tags, ['agent-sandboxes-abc-net-default']);
      assert.deepEqual(client.stored[3]!.inbound_rules![0]!.sources!.addresses, anywhere, 'another owner’s firewall is not ours');
    });
  });

  describe('the tag move and the final check', () => {
    it('tags a droplet with the new tag before the old one comes off, and does nothing when they are the same', async () => {
      const client = new FakeClient([]);
      await moveTag(client.asClient(), 7, 'old', 'new');
      await moveTag(client.asClient(), 7, 'same', 'same');
      assert.deepEqual(client.calls, ['make tag new', 'tag 7 new', 'untag 7 old']);
    });

    it('reads the final firewall afresh and removes the droplet, saying why, when it is gone or does not name the tag', async () => {
      const none = stored(firewallSpec('abc', 'none', ['0.0.0.0/0']), 'fw-1');
      const client = new FakeClient([none]);
      await confirmFirewall(client.asClient(), none, 'agent-sandboxes-abc-net-none', 'sb');
      assert.deepEqual(client.calls, ['GET firewall fw-1']);
      client.stored[0]!.tags = [];
      await assert.rejects(
        confirmFirewall(client.asClient(), none, 'agent-sandboxes-abc-net-none', 'sb'),
        /no longer covers the tag agent-sandboxes-abc-net-none/,
      );
      client.stored.length = 0;
      let removed = 0;
      await assert.rejects(
        settleDropletNetwork({
          client: client.asClient(),
          dropletId: 7,
          name: 'sb',
          firewalls: { bootTag: 'agent-sandboxes-abc-net-default', finalTag: 'agent-sandboxes-abc-net-none', final: none },
          remove: async () => void removed++,
        }),
        /firewall agent-sandboxes-abc-none of sb is gone from DigitalOcean, so sb was removed; create it again/,
      );
      assert.equal(removed, 1);
      // A removal that fails too is not called one.
      await assert.rejects(
        settleDropletNetwork({
          client: client.asClient(),
          dropletId: 7,
          name: 'sb',
          firewalls: { bootTag: 'agent-sandboxes-abc-net-default', finalTag: 'agent-sandboxes-abc-net-none', final: none },
          remove: () => Promise.reject(new Error('API down')),
        }),
        /is gone from DigitalOcean, and sb could not be removed yet; `sandbox rm sb` removes it/,
      );
    });
  });

  describe('host entries and the allowlist in the user data', () => {
    it('takes only host names and addresses into /etc/hosts, refusing anything that could inject', () => {
      assert.equal(
        hostsLines([parseHostEntry('db.test:198.51.100.7'), parseHostEntry('v6.test:[2001:db8::1]')]),
        '198.51.100.7 db.test\n2001:db8::1 v6.test\n',
      );
      for (const text of [
        'db.test\n1.2.3.4 evil:1.2.3.4',
        'db test:1.2.3.4',
        'db.test:1.2.3.4; rm -rf /',
        '$(reboot):1.2.3.4',
        'db.test:1.2.3.4\nnameserver 6.6.6.6',
      ])
        assert.throws(() => parseHostEntry(text), /is not a host entry/, JSON.stringify(text));
      for (const entry of [
        { name: 'db.test\n6.6.6.6 x', address: '1.2.3.4' },
        { name: 'db.test', address: '1.2.3.4 other' },
        { name: '`id`', address: '1.2.3.4' },
      ])
        assert.throws(() => hostsLines([entry]), /is not a host entry/, JSON.stringify(entry));
    });

    it('puts host entries in at every boot under every policy, and an allowlist only without sudo', () => {
      const open = dropletNetworkUserData({ network: 'open', hosts: ['db.test:198.51.100.7'], sudo: true });
      assert.ok(open.files.some((file) => file.path === '/etc/agent-sandboxes/hosts' && file.content === '198.51.100.7 db.test\n'));
      assert.ok(open.files.some((file) => file.path.startsWith('/var/lib/cloud/scripts/per-boot/')));
      assert.equal(open.runcmd.length, 0);
      assert.deepEqual(dropletNetworkUserData({ network: 'none', sudo: false }), { files: [], bootcmd: [], runcmd: [] });
      assert.throws(
        () => dropletNetworkUserData({ network: 'allow:example.com', sudo: true }),
        /^SandboxError: An allowlist on a DigitalOcean sandbox holds only without sudo \(root could lift it\); leave out --sudo or the allowlist\.$/,
      );
    });

    it('carries the containers’ ruleset with the resolvers for root only, the allowed names and the ready marker', () => {
      const network = dropletNetworkUserData({
        network: 'allow:*.example.com,pypi.org',
        hosts: ['api.example.com:198.51.100.7', 'other.test:198.51.100.8'],
        sudo: false,
      });
      const file = (name: string) => network.files.find((candidate) => candidate.path === name)?.content ?? '';
      const rules = file('/etc/agent-sandboxes/network.nft');
      assert.match(rules, /meta skuid 0 meta l4proto \{ tcp, udp \} th dport 53 ip daddr @resolvers4 accept/);
      assert.match(rules, /set allowed4 \{ type ipv4_addr; elements = \{ 198\.51\.100\.7 \}; \}/, 'only the host entry under an allowed name is admitted');
      assert.match(rules, /192\.0\.0\.0\/24/);
      assert.equal(file('/etc/agent-sandboxes/allow'), 'example.com\npypi.org\n');
      assert.match(file(NETWORK_SCRIPT), new RegExp(`: > "\\$ready"`));
      assert.match(file(NETWORK_SCRIPT), new RegExp(NETWORK_READY.replace(/\//g, '\\/')));
      assert.deepEqual(network.runcmd, [NETWORK_SCRIPT]);
      const userData = dropletUserData({
        user: 'agent',
        workdir: '/home/agent/work',
        authorizedKey: 'ssh-ed25519 AAAA k',
        sudo: false,
        packages: ['base'],
        network,
      });
      const runcmd = userData.slice(userData.indexOf('runcmd:'));
      assert.ok(runcmd.indexOf('install-packages') < runcmd.indexOf(NETWORK_SCRIPT), 'the rules go in after the packages (the first boot needs the mirror)');
      assert.match(userData.slice(0, userData.indexOf('users:')), /\[ ! -x \/usr\/local\/sbin\/sandbox-network \] \|\| \/usr\/local\/sbin\/sandbox-network/);
    });
  });

  describe('a droplet booting again (restore, power-on)', () => {
    const firewalls = (id: string, tag: string) => ({ bootTag: tag, finalTag: tag, final: { id, name: 'agent-sandboxes-o-none' } as Firewall });

    it("says why the final firewall does not hold, read afresh: gone, or no longer covering the droplet's tag", async () => {
      const tag = 'agent-sandboxes-o-net-none';
      const client = new FakeClient([{ id: 'fw-1', name: 'agent-sandboxes-o-none', outbound_rules: [], tags: [tag] }]);
      assert.equal(await firewallProblem(client.asClient(), firewalls('fw-1', tag)), undefined);
      assert.match((await firewallProblem(client.asClient(), firewalls('fw-1', 'agent-sandboxes-o-net-other')))!, /no longer covers the tag/);
      assert.match((await firewallProblem(client.asClient(), firewalls('fw-9', tag)))!, /is gone from DigitalOcean/);
    });

    it("installs nothing in a restore's user data, and refuses an allowlist on Ubuntu 22.04 before anything is made", () => {
      const userData = dropletUserData({ user: 'agent', workdir: '/home/agent/workspace', authorizedKey: 'ssh-ed25519 AAAA k', sudo: false, packages: [] });
      assert.match(userData, /^runcmd:$/m);
      assert.doesNotMatch(userData, /install-packages,/);
      assert.throws(() => checkAllowlistOs('ubuntu-22-04', 'allow:pypi.org'), /needs Ubuntu 24\.04/);
      checkAllowlistOs('ubuntu-24-04', 'allow:pypi.org');
      checkAllowlistOs('ubuntu-22-04', 'none');
    });
  });

  describe('SSH sources', () => {
    it('takes CIDR blocks or anywhere, and refuses anything else in one sentence', () => {
      assert.deepEqual(parseSshSources(['anywhere']), ['0.0.0.0/0', '::/0']);
      assert.deepEqual(parseSshSources(['203.0.113.77/24', '10.1.2.3/0']), ['203.0.113.0/24', '0.0.0.0/0'], 'an IPv4 block as its own address');
      assert.deepEqual(parseSshSources(['203.0.113.0/24,198.51.100.7', '2001:DB8::/32']), ['203.0.113.0/24', '198.51.100.7/32', '2001:db8::/32']);
      for (const bad of [[], ['anywhere', '1.2.3.4/32'], ['1.2.3.4/33'], ['example.com'], ['1.2.3.4/24/1']])
        assert.throws(() => parseSshSources(bad), /SandboxError/);
    });

    it('keeps the choice in the state dir, readable by its owner only, and says signed out that the firewalls follow later', async () => {
      const root = mkdtempSync(path.join(os.tmpdir(), 'ssh-sources-'));
      assert.deepEqual(await readSshSources(root), ['0.0.0.0/0', '::/0']);
      const result = await setSshSources(root, ['203.0.113.0/24'], { env: {} });
      assert.deepEqual(result, { sources: ['203.0.113.0/24'], signedIn: false, updated: [] });
      assert.equal(statSync(sshSourcesFile(root)).mode & 0o777, 0o600);
      assert.deepEqual(await readSshSources(root), ['203.0.113.0/24']);
    });
  });
});
