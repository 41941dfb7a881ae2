import * as assert from 'node:assert/strict';
import { isSandboxError } from '../../../../src/core/errors';
import { parseHostProbe, parseNameservers } from '../../../../src/core/network/hostAddresses';
import { describeNetworkPolicy, isAllowedName, lacksSsh, networkFromOptions, parseHostEntry, parseNetworkPolicy } from '../../../../src/core/network/policy';
import { buildRuleset } from '../../../../src/core/network/rules';

describe('network policies (parsing and rules)', function () {
  it('parses the policies and refuses anything else, naming the forms', function () {
    assert.deepEqual(parseNetworkPolicy(undefined), { mode: 'default' });
    assert.deepEqual(parseNetworkPolicy('none'), { mode: 'none' });
    assert.deepEqual(parseNetworkPolicy('allow:PyPI.org,*.pythonhosted.org,pypi.org'), { mode: 'allow', domains: ['pypi.org', '*.pythonhosted.org'] });
    for (const bad of ['closed', 'allow:', 'allow:localhost', 'allow:10.0.0.1', 'allow:a..b', 'allow:-x.org', 'allow:x.org;rm']) {
      assert.throws(
        () => parseNetworkPolicy(bad),
        (error: unknown) => isSandboxError(error, 'invalid-input'),
        bad,
      );
    }
    assert.equal(networkFromOptions(undefined, ['a.org', 'b.org']), 'allow:a.org,b.org');
    assert.equal(networkFromOptions('allow:a.org', ['b.org']), 'allow:a.org,b.org');
    assert.throws(() => networkFromOptions('open', ['b.org']), /--allow-domain makes an allowlist, and --network open is not one/);
  });

  it('says a cloud machine under none is still reached over SSH, and a container is not', function () {
    const cloud = (kind: string | undefined) => kind === 'digitalocean';
    assert.equal(lacksSsh({ provider: 'docker', profile: { network: 'none' } }, cloud), true);
    assert.equal(lacksSsh({ provider: 'digitalocean', profile: { network: 'none' } }, cloud), false);
    assert.match(describeNetworkPolicy('none'), /commands through the engine only/);
    assert.match(describeNetworkPolicy('none', true), /reached over SSH only/);
  });

  it('matches a domain and the names under it, never a name that merely ends alike', function () {
    assert.ok(isAllowedName('pypi.org', ['pypi.org']));
    assert.ok(isAllowedName('files.pypi.org', ['*.pypi.org']));
    assert.ok(!isAllowedName('evilpypi.org', ['pypi.org']));
    assert.ok(!isAllowedName('pypi.org.evil.test', ['pypi.org']));
  });

  it('takes host entries as docker does, and refuses ones that are not', function () {
    assert.deepEqual(parseHostEntry('DB.test:198.51.100.7'), { name: 'db.test', address: '198.51.100.7' });
    assert.deepEqual(parseHostEntry('v6.test:[2001:db8::1]'), { name: 'v6.test', address: '2001:db8::1' });
    for (const bad of ['db.test', ':1.2.3.4', 'db.test:host', 'a b:1.2.3.4']) assert.throws(() => parseHostEntry(bad), /is not a host entry/, bad);
  });

  it('builds rules that refuse the ranges and the host before anything is allowed', function () {
    const rules = buildRuleset({
      mode: 'allow',
      hostAddresses: ['192.0.2.2', 'fd00::2', 'fe80::1%eth0'],
      subnets: ['172.18.0.0/16'],
      resolvers: ['10.255.255.53'],
      allowedAddresses: ['198.51.100.1'],
    });
    for (const range of [
      '10.0.0.0/8',
      '172.16.0.0/12',
      '192.168.0.0/16',
      '100.64.0.0/10',
      '169.254.0.0/16',
      'fc00::/7',
      'fe80::/10',
      '192.0.2.2',
      'fd00::2',
      'fe80::1 ',
      '172.18.0.0/16',
    ]) {
      assert.ok(rules.includes(range), range);
    }
    const order = [
      'oif "lo" accept',
      'ct state established,related ct direction reply accept',
      '@resolvers4 accept',
      'ip daddr @denied4 jump refuse',
      'ip daddr @allowed4 accept',
      '    jump refuse',
    ].map((line) => rules.indexOf(line));
    assert.deepEqual(
      [...order].sort((x, y) => x - y),
      order,
      rules,
    );
    assert.ok(!order.includes(-1), rules);
    assert.match(rules, /elements = \{ 198\.51\.100\.1 \}/);
    assert.match(rules, /ip daddr 127\.0\.0\.11 meta l4proto \{ tcp, udp \} th dport 53 redirect to :53/);
    assert.doesNotMatch(buildRuleset({ mode: 'default', hostAddresses: [], subnets: [], resolvers: [] }), /allowed4|redirect|^\s+jump refuse$/m);
  });

  it("reads a remote engine host's addresses and resolvers from its probe", function () {
    const probe = [
      'Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     |-- 192.0.2.2\n        /32 host LOCAL\n     |-- 192.0.2.255\n        /32 link BROADCAST',
      'fd000000000000000000000000000002 02 40 00 80     eth0\nfe8000000000000000fc00fffe000001 02 40 20 80     eth0',
      'nameserver 10.255.255.53\nnameserver 127.0.0.53\n',
    ].join('\n@@\n');
    assert.deepEqual(parseHostProbe(probe), { addresses: ['192.0.2.2', 'fd00:0:0:0:0:0:0:2', 'fe80:0:0:0:fc:ff:fe00:1'], resolvers: ['10.255.255.53'] });
    assert.deepEqual(parseNameservers('# c\nnameserver ::1\nnameserver 2001:db8::53%eth0\nsearch x'), ['2001:db8::53']);
  });
});
