import * as assert from 'node:assert/strict';
import { readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { pushTree } from '../../../../src/core/sync';
import { sandboxLink } from '../../../../src/core/sync/links';
import { localChannel, temporaryFolder, writeTree } from './helpers';

describe('push: links', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  let local: string;
  let remote: string;

  beforeEach(() => {
    folder = temporaryFolder();
    local = path.join(folder.root, 'project');
    remote = path.join(folder.root, 'sandbox', 'workspace');
  });
  afterEach(() => folder.cleanup());

  it('sends an absolute link into the folder as the equivalent relative link', async () => {
    writeTree(local, { 'out/a': 'built\n', 'lib/deep/x.txt': 'x\n' });
    symlinkSync(path.join(local, 'out', 'a'), path.join(local, 'out', 'b'));
    symlinkSync(path.join(local, 'lib', 'deep', 'x.txt'), path.join(local, 'top'));
    symlinkSync(path.join(local, 'out'), path.join(local, 'lib', 'deep', 'to-out'));
    symlinkSync(local, path.join(local, 'lib', 'root'));
    // Climbs out of the folder by its name and back in: that name does not exist in the sandbox.
    symlinkSync(path.join('..', 'project', 'out', 'a'), path.join(local, 'sideways'));

    const result = await pushTree({ channel: localChannel(), localRoot: local, remoteDir: remote });

    assert.equal(readlinkSync(path.join(remote, 'out', 'b')), 'a');
    assert.equal(readlinkSync(path.join(remote, 'top')), 'lib/deep/x.txt');
    assert.equal(readlinkSync(path.join(remote, 'lib', 'deep', 'to-out')), '../../out');
    assert.equal(readlinkSync(path.join(remote, 'lib', 'root')), '..');
    assert.equal(readlinkSync(path.join(remote, 'sideways')), 'out/a');
    // They resolve in the sandbox's tree, not in the local one.
    assert.equal(readFileSync(path.join(remote, 'out', 'b'), 'utf8'), 'built\n');
    assert.equal(readFileSync(path.join(remote, 'lib', 'deep', 'to-out', 'a'), 'utf8'), 'built\n');
    assert.deepEqual(result.linksOutside, []);
  });

  it('sends links that lead outside the folder as they are, and names them', async () => {
    writeTree(local, { 'a.txt': 'a', 'nested/up': { link: '../a.txt' }, python: { link: '/usr/bin/python3' }, away: { link: '../../elsewhere' } });
    symlinkSync(path.join(folder.root, 'secrets'), path.join(local, 'host-path'));

    const channel = localChannel();
    const first = await pushTree({ channel, localRoot: local, remoteDir: remote });

    assert.equal(readlinkSync(path.join(remote, 'python')), '/usr/bin/python3');
    assert.equal(readlinkSync(path.join(remote, 'away')), '../../elsewhere');
    assert.equal(readlinkSync(path.join(remote, 'host-path')), path.join(folder.root, 'secrets'));
    assert.equal(readlinkSync(path.join(remote, 'nested', 'up')), '../a.txt', 'a relative link inside is kept as written');
    assert.deepEqual(first.linksOutside, ['away', 'host-path', 'python']);

    // Named when sent, not on every push.
    const second = await pushTree({ channel, localRoot: local, remoteDir: remote, previous: first.manifest });
    assert.deepEqual(second.linksOutside, []);
  });

  it('tells inside from outside by path, through the real path of the folder too', () => {
    const roots = ['/home/me/link-to-project', '/data/project'];
    assert.deepEqual(sandboxLink(roots, 'a/b', '/data/project/c'), { target: '../c', outside: false });
    assert.deepEqual(sandboxLink(roots, 'a/b', '/home/me/link-to-project/a/c'), { target: 'c', outside: false });
    assert.deepEqual(sandboxLink(roots, 'a', '/data/project'), { target: '.', outside: false });
    assert.deepEqual(sandboxLink(roots, 'a', '/data/project/../other'), { target: '/data/project/../other', outside: true });
    assert.deepEqual(sandboxLink(roots, 'a', '/data/projectile/x'), { target: '/data/projectile/x', outside: true });
    assert.deepEqual(sandboxLink(roots, 'd/a', '../..'), { target: '../..', outside: true });
    assert.deepEqual(sandboxLink(roots, 'd/a', '..'), { target: '..', outside: false });
    assert.deepEqual(sandboxLink(roots, 'd/a', '../..foo'), { target: '../..foo', outside: false });
  });
});
