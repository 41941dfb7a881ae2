import * as assert from 'node:assert/strict';
import { multiplexingLines, renderSshConfig, type SshHostEntry } from '../../../../src/core/ssh/config';
import { departedAliases, hostBlocks } from '../../../../src/core/ssh/multiplexing';

const hostKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ';

function entry(name: string, port: number, jump?: SshHostEntry): SshHostEntry {
  return { alias: `sandbox-${name}`, endpoint: { host: '127.0.0.1', port, user: 'agent', hostKey }, hostKeyAlias: `agent-sandbox-${name}`, jump };
}

describe('OpenSSH connection sharing in our config', function () {
  it('shares a connection per sandbox, keyed by host, port and user, and persists it briefly', function () {
    const config = renderSshConfig([entry('a', 2201)], '/state/ssh/known_hosts', '/state/ssh/cm');
    const block = hostBlocks(config).get('sandbox-a')!;
    assert.match(block, /^ {2}ControlMaster auto$/m);
    assert.match(block, /^ {2}ControlPath \/state\/ssh\/cm\/[0-9a-f]{16}-%r$/m);
    assert.match(block, /^ {2}ControlPersist 10m$/m);
  });

  it('makes no master on a jump host, which is the user own machine', function () {
    const jump: SshHostEntry = { ...entry('jumper', 22), alias: 'agent-sandboxes-host-jumper' };
    const blocks = hostBlocks(renderSshConfig([entry('b', 2202, jump)], '/k', '/cm'));
    assert.doesNotMatch(blocks.get('agent-sandboxes-host-jumper')!, /Control/);
    assert.match(blocks.get('sandbox-b')!, /ControlMaster auto/);
  });

  it('goes without where OpenSSH cannot share: Windows, or a socket path too long to bind', function () {
    const a = entry('a', 2201);
    assert.deepEqual(multiplexingLines('/state/ssh/cm', a, 'win32'), []);
    assert.deepEqual(multiplexingLines(`/${'d'.repeat(70)}/ssh/cm`, a, 'linux'), []);
    assert.deepEqual(multiplexingLines('/with space/cm', a, 'linux'), []);
    assert.equal(multiplexingLines('/state/ssh/cm', a, 'linux').length, 3);
    // What OpenSSH binds first (the path and a 17-character suffix) fits in 104 bytes, for a usual state dir too.
    const usual = '/home/someone-with-a-long-name/.agent-sandboxes/ssh/cm';
    const [, line] = multiplexingLines(usual, a, 'linux');
    assert.ok(line, 'a usual home folder still shares connections');
    assert.ok(line!.replace('  ControlPath ', '').replace('%r', 'agent').length + 17 <= 104);
  });

  it('gives sandboxes at the same address and port behind different jump hosts sockets of their own', function () {
    const jumpOf = (name: string): SshHostEntry => ({ ...entry(name, 22), alias: `agent-sandboxes-host-${name}` });
    const config = renderSshConfig([entry('local', 32768), entry('far', 32768, jumpOf('h1'))], '/k', '/cm');
    const paths = [...hostBlocks(config).entries()].filter(([alias]) => alias.startsWith('sandbox-')).map(([, block]) => /ControlPath (\S+)/.exec(block)![1]);
    assert.equal(paths.length, 2);
    assert.notEqual(paths[0], paths[1]);
  });

  it('names the masters to close: sandboxes gone from the config or moved to another port', function () {
    const before = renderSshConfig([entry('stays', 2201), entry('goes', 2202), entry('moves', 2203)], '/k', '/cm');
    const after = renderSshConfig([entry('stays', 2201), entry('moves', 2299), entry('new', 2204)], '/k', '/cm');
    assert.deepEqual(departedAliases(before, after).sort(), ['sandbox-goes', 'sandbox-moves']);
    assert.deepEqual(departedAliases(before, before), []);
    // A config written without sharing has no master to close.
    assert.deepEqual(departedAliases(renderSshConfig([entry('old', 2201)], '/k'), after), []);
  });
});
