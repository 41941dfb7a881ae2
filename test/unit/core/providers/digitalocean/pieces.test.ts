import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chooseRegion, chooseSize, sizesIn, type Catalog, type SizeOffer } from '../../../../../src/core/providers/digitalocean/catalog';
import { readCredentials, saveToken, tokenFile, useTokenInThisProcess } from '../../../../../src/core/providers/digitalocean/credentials';
import { complementV4, firewallSpec } from '../../../../../src/core/providers/digitalocean/firewall';
import { hibernatedIdOf, hibernationName, parseDropletRef, sandboxIdOf, sandboxIdTag } from '../../../../../src/core/providers/digitalocean/tags';
import { dropletUserData, METADATA_ADDRESS, REKEY_COMMAND } from '../../../../../src/core/providers/digitalocean/userData';
import { generateEd25519 } from '../../../../../src/core/ssh/keys';

const GIB = 1024 ** 3;

function size(slug: string, usdPerHour: number, vcpus: number, memoryMb: number, regions: string[], gpu?: SizeOffer['gpu']): SizeOffer {
  return { slug, usdPerHour, usdPerMonth: usdPerHour * 672, vcpus, memoryMb, diskGb: 25, regions, gpu };
}

const CATALOG: Catalog = {
  regions: [
    { slug: 'ams3', name: 'Amsterdam 3', sizes: ['s-1vcpu-1gb', 's-1vcpu-2gb', 's-2vcpu-4gb'] },
    { slug: 'nyc3', name: 'New York 3', sizes: ['s-1vcpu-1gb', 's-1vcpu-2gb', 's-2vcpu-4gb', 'gpu-h100x1-80gb'] },
  ],
  sizes: [
    size('s-2vcpu-4gb', 0.03571, 2, 4096, ['ams3', 'nyc3']),
    size('s-1vcpu-1gb', 0.00893, 1, 1024, ['ams3', 'nyc3']),
    size('s-1vcpu-2gb', 0.01786, 1, 2048, ['ams3', 'nyc3']),
    size('gpu-h100x1-80gb', 3.39, 20, 245760, ['nyc3'], { count: 1, model: 'nvidia_h100', vramGb: 80 }),
  ],
};

describe('DigitalOcean provider pieces', () => {
  describe('catalog', () => {
    it('prefers nyc3, takes a named region, and refuses an unknown one naming the ones there are', () => {
      assert.equal(chooseRegion(CATALOG).slug, 'nyc3');
      assert.equal(chooseRegion(CATALOG, 'ams3').slug, 'ams3');
      assert.throws(() => chooseRegion(CATALOG, 'mars1'), /no available region "mars1"; pick one of ams3, nyc3\./);
    });

    it('picks the cheapest CPU size that fits the profile, never a GPU one', () => {
      assert.deepEqual(
        sizesIn(CATALOG, 'nyc3').map((offer) => offer.slug),
        ['s-1vcpu-1gb', 's-1vcpu-2gb', 's-2vcpu-4gb', 'gpu-h100x1-80gb'],
      );
      assert.equal(chooseSize(CATALOG, { region: 'nyc3', profile: { cpus: 1, memory: 2 * GIB } }).slug, 's-1vcpu-2gb');
      assert.equal(chooseSize(CATALOG, { region: 'nyc3', profile: { cpus: 2, memory: 1 * GIB } }).slug, 's-2vcpu-4gb');
      assert.throws(() => chooseSize(CATALOG, { region: 'nyc3', profile: { cpus: 64, memory: GIB } }), /No size in nyc3 has 64 CPUs/);
    });

    it('refuses a size not offered in the region, saying where it is, and an unknown GPU model naming those there', () => {
      assert.throws(
        () => chooseSize(CATALOG, { region: 'ams3', size: 'gpu-h100x1-80gb', profile: { cpus: 1, memory: GIB } }),
        /The size gpu-h100x1-80gb is not offered in ams3; it is in nyc3: pick another region/,
      );
      assert.throws(() => chooseSize(CATALOG, { region: 'nyc3', size: 'huge', profile: { cpus: 1, memory: GIB } }), /no available size "huge"/);
      assert.equal(chooseSize(CATALOG, { region: 'nyc3', gpu: 'h100', profile: { cpus: 1, memory: GIB } }).slug, 'gpu-h100x1-80gb');
      assert.throws(
        () => chooseSize(CATALOG, { region: 'nyc3', gpu: 'a100', profile: { cpus: 1, memory: GIB } }),
        /No a100 GPU size is offered in nyc3; there: nvidia_h100\./,
      );
    });
  });

  describe('firewall', () => {
    const toNumber = (address: string) => address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
    const covers = (cidrs: string[], address: string) =>
      cidrs.some((cidr) => {
        const [base, bits] = cidr.split('/');
        const span = 2 ** (32 - Number(bits));
        return toNumber(address) >= toNumber(base!) && toNumber(address) < toNumber(base!) + span;
      });

    it('lets a default-policy sandbox reach public addresses and none of the private, link-local or loopback ones', () => {
      const allowed = complementV4([
        '10.0.0.0/8',
        '172.16.0.0/12',
        '192.168.0.0/16',
        '127.0.0.0/8',
        '169.254.0.0/16',
        '100.64.0.0/10',
        '0.0.0.0/8',
        '224.0.0.0/3',
      ]);
      for (const address of ['8.8.8.8', '1.1.1.1', '151.101.1.1', '172.15.255.255', '172.32.0.0', '192.167.255.255', '223.255.255.255'])
        assert.ok(covers(allowed, address), address);
      for (const address of [
        '10.1.2.3',
        '172.16.0.1',
        '172.31.255.255',
        '192.168.1.1',
        '127.0.0.1',
        METADATA_ADDRESS,
        '100.64.0.1',
        '0.1.2.3',
        '224.0.0.1',
        '255.255.255.255',
      ])
        assert.ok(!covers(allowed, address), address);
      const total = allowed.reduce((sum, cidr) => sum + 2 ** (32 - Number(cidr.split('/')[1])), 0);
      assert.equal(total, 2 ** 32 - 3 * 2 ** 24 - 2 ** 22 - 2 * 2 ** 16 - 2 ** 20 - 2 ** 29, 'the blocked ranges, and nothing else, are left out');
    });

    it('opens only SSH inbound, from the sources given, and refuses policies a cloud firewall cannot express', () => {
      const spec = firewallSpec('abc', 'default', ['203.0.113.0/24']);
      assert.deepEqual(spec.inboundRules, [{ protocol: 'tcp', ports: '22', sources: { addresses: ['203.0.113.0/24'] } }]);
      assert.deepEqual(spec.tags, ['agent-sandboxes-abc-net-default']);
      assert.deepEqual(firewallSpec('abc', 'open', ['0.0.0.0/0']).outboundRules[0]!.destinations, { addresses: ['0.0.0.0/0', '::/0'] });
      assert.throws(() => firewallSpec('abc', 'allow:example.com', []), /has no cloud firewall of its own; use default, open or none/);
    });
  });

  describe('tags and handles', () => {
    it('finds the sandbox id and the hibernated sandbox of this owner only, and reads only handles of ours', () => {
      assert.equal(sandboxIdOf(['other', sandboxIdTag('0a1b2c3d4e5f')]), '0a1b2c3d4e5f');
      assert.equal(hibernatedIdOf('own1', hibernationName('own1', '0a1b2c3d4e5f')), '0a1b2c3d4e5f');
      assert.equal(hibernatedIdOf('own2', hibernationName('own1', '0a1b2c3d4e5f')), undefined);
      assert.deepEqual(parseDropletRef('droplet:123'), { kind: 'droplet', id: 123 });
      assert.deepEqual(parseDropletRef('hibernated:abc-1'), { kind: 'hibernated', snapshotId: 'abc-1' });
      for (const ref of ['droplet:', 'droplet:12a', 'container:1', 'hibernated:../x', 'droplet:1;rm']) assert.equal(parseDropletRef(ref), undefined, ref);
    });
  });

  describe('user data', () => {
    const client = generateEd25519('client');
    const host = generateEd25519('host');

    it('blocks the metadata address first, pins the host key, allows the rekey once, and no password or root login', () => {
      const text = dropletUserData({
        user: 'agent',
        workdir: '/home/agent/workspace',
        authorizedKey: client.publicKey,
        hostKey: host,
        sudo: false,
        packages: ['base', 'docker'],
      });
      const lines = text.split('\n');
      assert.equal(lines[0], '#cloud-config');
      assert.equal(lines[1], 'bootcmd:');
      assert.ok(lines[2]!.includes(`ip daddr ${METADATA_ADDRESS} meta skuid != 0 reject`));
      for (const expected of [
        'ssh_pwauth: false',
        'disable_root: true',
        'ssh_deletekeys: true',
        '  ed25519_private: |',
        'PasswordAuthentication no',
        'AllowUsers agent',
        `agent ALL=(root) NOPASSWD: ${REKEY_COMMAND}`,
      ])
        assert.ok(
          lines.some((line) => line.trim() === expected.trim()),
          expected,
        );
      assert.ok(text.includes(host.privateKey.split('\n')[1]!), 'the host key travels in the user data');
      assert.ok(text.includes('install-packages, base, docker'));
      assert.ok(!text.includes('NOPASSWD: ALL'), 'no sudo for a no-sudo sandbox');
      assert.ok(!text.includes('usermod -aG docker'), 'the docker group is root: not for a no-sudo sandbox');
    });

    it('restores a snapshot without a host key, keeping the one on its disk, and with sudo when the sandbox had it', () => {
      const text = dropletUserData({
        user: 'agent',
        workdir: '/home/agent/workspace',
        authorizedKey: client.publicKey,
        sudo: true,
        packages: ['base', 'docker'],
      });
      assert.ok(text.includes('ssh_deletekeys: false'));
      assert.ok(!text.includes('ssh_keys:') && !text.includes(REKEY_COMMAND));
      assert.ok(text.includes('agent ALL=(ALL:ALL) NOPASSWD: ALL'));
      assert.ok(text.includes('usermod -aG docker agent'));
    });
  });

  describe('credentials', () => {
    const env = {};
    afterEach(() => useTokenInThisProcess(undefined));

    it('takes the editor token first, then the environment, then a 0600 file, and refuses a file others can read', async () => {
      const root = mkdtempSync(path.join(os.tmpdir(), 'do-credentials-'));
      assert.equal(await readCredentials(root, env), undefined);
      await saveToken(root, 'dop_v1_file\n');
      assert.equal(statSync(tokenFile(root)).mode & 0o777, 0o600);
      assert.deepEqual(await readCredentials(root, env), { token: 'dop_v1_file', apiUrl: 'https://api.digitalocean.com', source: 'file' });
      assert.equal((await readCredentials(root, { DIGITALOCEAN_TOKEN: 'dop_v1_env' }))?.source, 'environment');
      useTokenInThisProcess('dop_v1_editor');
      assert.equal((await readCredentials(root, { DIGITALOCEAN_TOKEN: 'dop_v1_env' }))?.token, 'dop_v1_editor');
      useTokenInThisProcess(undefined);
      chmodSync(tokenFile(root), 0o644);
      await assert.rejects(readCredentials(root, env), /readable by other users; revoke that token/);
      writeFileSync(tokenFile(root), 'two words\n', { mode: 0o600 });
      chmodSync(tokenFile(root), 0o600);
      await assert.rejects(
        readCredentials(root, env),
        (error: Error) => !error.message.includes('two words') && /not a DigitalOcean token/.test(error.message),
      );
    });
  });
});
