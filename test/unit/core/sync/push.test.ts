import * as assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { isSandboxError } from '../../../../src/core/errors';
import { pushTree, type Manifest, type PushOptions } from '../../../../src/core/sync';
import { contentListing, localChannel, temporaryFolder, writeTree } from './helpers';

/** What the controller does with a manifest: store it as JSON and read it back. */
function stored(manifest: Manifest): Manifest {
  return JSON.parse(JSON.stringify(manifest)) as Manifest;
}

describe('pushTree', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  let local: string;
  let remote: string;

  beforeEach(() => {
    folder = temporaryFolder();
    local = path.join(folder.root, 'local');
    remote = path.join(folder.root, 'sandbox', 'workspace');
  });
  afterEach(() => folder.cleanup());

  const push = (options: Partial<PushOptions> = {}) =>
    pushTree({ channel: options.channel ?? localChannel(), localRoot: local, remoteDir: remote, ...options });

  it('copies content, modes, symlinks inside the tree and empty folders', async () => {
    writeTree(local, {
      'readme.md': '# hello\n',
      'zero-bytes.txt': '',
      'bin/run.sh': { mode: 0o755, content: '#!/bin/sh\necho run\n' },
      'keys/private.key': { mode: 0o600, content: 'secret' },
      empty: null,
      'nested/deep/empty': null,
      'link-to-readme': { link: 'readme.md' },
      'nested/up': { link: '../readme.md' },
      dangling: { link: 'does-not-exist' },
    });

    const result = await push();

    assert.deepEqual(contentListing(remote), contentListing(local));
    assert.equal(result.filesSent, 4);
    assert.equal(result.bytesSent, '# hello\n'.length + '#!/bin/sh\necho run\n'.length + 'secret'.length);
    assert.equal(result.unchanged, 0);
    assert.equal(lstatSync(path.join(remote, 'nested/up')).isSymbolicLink(), true);
    const localSeconds = Math.floor(lstatSync(path.join(local, 'bin/run.sh')).mtimeMs / 1000);
    assert.equal(Math.floor(lstatSync(path.join(remote, 'bin/run.sh')).mtimeMs / 1000), localSeconds);
  });

  it('honours nested .gitignore files, default excludes and extra patterns, and keeps .git', async () => {
    writeTree(local, {
      '.gitignore': 'build/\n*.log\n*.pack\n',
      'build/out.js': 'x',
      'app.log': 'x',
      'src/.gitignore': 'generated.ts\n!keep.log\n',
      'src/generated.ts': 'x',
      'src/keep.log': 'kept by a negation in the nearer .gitignore',
      'src/main.ts': 'x',
      'lib/generated.ts': 'the nested rule does not apply outside src/',
      'node_modules/left-pad/index.js': 'x',
      'pkg/__pycache__/mod.cpython-312.pyc': 'x',
      'pkg/mod.pyc': 'x',
      'pkg/mod.py': 'x',
      '.venv/bin/python': 'x',
      '.DS_Store': 'x',
      '.git/HEAD': 'ref: refs/heads/main\n',
      '.git/objects/pack/pack-1.pack': 'git ignores rules inside .git',
      'notes/todo.txt': 'x',
      'notes.txt': 'x',
    });

    await push({ excludes: ['notes/'] });

    assert.deepEqual(Object.keys(contentListing(remote)).sort(), [
      '.git',
      '.git/HEAD',
      '.git/objects',
      '.git/objects/pack',
      '.git/objects/pack/pack-1.pack',
      '.gitignore',
      'lib',
      'lib/generated.ts',
      'notes.txt',
      'pkg',
      'pkg/mod.py',
      'src',
      'src/.gitignore',
      'src/keep.log',
      'src/main.ts',
    ]);
  });

  it('sends exactly the changed files, and their bytes, on an incremental push', async () => {
    const spec: Record<string, string> = {};
    for (let index = 0; index < 300; index++) spec[`dir${index % 7}/file${index}.txt`] = `content ${index}\n`.repeat(20);
    writeTree(local, spec);
    const channel = localChannel();
    const first = await push({ channel });
    assert.equal(first.filesSent, 300);

    let changedBytes = 0;
    for (let index = 0; index < 300; index += 30) {
      const content = `changed ${index} `.repeat(index + 1);
      writeFileSync(path.join(local, `dir${index % 7}/file${index}.txt`), content);
      changedBytes += content.length;
    }
    const second = await push({ channel, previous: stored(first.manifest) });

    assert.equal(second.filesSent, 10);
    assert.equal(second.bytesSent, changedBytes);
    assert.equal(second.unchanged, 300 - 10, 'files only: folders are not counted');
    assert.deepEqual(second.deleted, []);
    assert.deepEqual(contentListing(remote), contentListing(local));
  });

  it('sends nothing when files were only touched', async () => {
    writeTree(local, { 'a.txt': 'a', 'b/c.txt': 'c' });
    const channel = localChannel();
    const first = await push({ channel });
    const sentMtime = lstatSync(path.join(remote, 'a.txt')).mtimeMs;
    const later = new Date(Date.now() + 60_000);
    utimesSync(path.join(local, 'a.txt'), later, later);
    utimesSync(path.join(local, 'b/c.txt'), later, later);

    const second = await push({ channel, previous: stored(first.manifest) });

    assert.equal(second.filesSent, 0);
    assert.equal(second.bytesSent, 0);
    assert.equal(lstatSync(path.join(remote, 'a.txt')).mtimeMs, sentMtime, 'no archive is sent when nothing changed');
    // The sandbox keeps the older time: the next push must not take that for a change made there.
    const third = await push({ channel, previous: stored(second.manifest) });
    assert.equal(third.filesSent, 0);
    assert.deepEqual(third.overwrittenInSandbox, []);
  });

  it('propagates deletions only when asked, and protects excluded paths', async () => {
    writeTree(local, { 'keep.txt': 'k', 'gone.txt': 'g', 'old/a.txt': 'a', 'old/b/c.txt': 'c', 'cache/data.bin': 'd' });
    const channel = localChannel();
    const first = await push({ channel });
    rmSync(path.join(local, 'gone.txt'));
    rmSync(path.join(local, 'old'), { recursive: true });
    rmSync(path.join(local, 'cache'), { recursive: true });

    const withoutDelete = await push({ channel, previous: stored(first.manifest) });
    assert.deepEqual(withoutDelete.deleted, []);
    assert.equal(existsSync(path.join(remote, 'gone.txt')), true);
    assert.equal(existsSync(path.join(remote, 'old/b/c.txt')), true);

    // The manifest of the push that kept them still knows them, so a later --delete removes them.
    const withDelete = await push({ channel, previous: stored(withoutDelete.manifest), deleteExtraneous: true, excludes: ['cache/'] });
    assert.deepEqual(withDelete.deleted, ['gone.txt', 'old']);
    assert.deepEqual(Object.keys(contentListing(remote)).sort(), ['cache', 'cache/data.bin', 'keep.txt']);
    const rm = channel.log.execs.filter((argv) => argv[0] === 'rm');
    assert.deepEqual(rm, [['rm', '-rf', '--', path.join(remote, 'gone.txt'), path.join(remote, 'old')]]);
  });

  it('replaces a file that became a folder and a folder that became a file', async () => {
    writeTree(local, { thing: 'a file', 'other/inside.txt': 'x' });
    const channel = localChannel();
    const first = await push({ channel });
    rmSync(path.join(local, 'thing'));
    rmSync(path.join(local, 'other'), { recursive: true });
    writeTree(local, { 'thing/inside.txt': 'now a folder', other: 'now a file' });

    await push({ channel, previous: stored(first.manifest) });

    assert.deepEqual(contentListing(remote), contentListing(local));
  });

  it('streams files larger than the read-ahead size', async () => {
    const large = Buffer.alloc(3 * 1024 * 1024 + 17, 'x');
    writeTree(local, { 'large.bin': large, 'small.txt': 's' });
    const result = await push();
    assert.equal(result.bytesSent, large.length + 1);
    assert.deepEqual(readFileSync(path.join(remote, 'large.bin')), large);
  });

  it('gives pushed files the owner asked for', async () => {
    writeTree(local, { 'a.txt': 'a', 'd/b.txt': 'b' });
    await push({ owner: { uid: 1234, gid: 2345 } });
    // Only root's tar can give files away; elsewhere the check would test tar, not us.
    if (process.getuid?.() === 0) {
      assert.equal(lstatSync(path.join(remote, 'd/b.txt')).uid, 1234);
      assert.equal(lstatSync(path.join(remote, 'd')).gid, 2345);
    }
    assert.equal(readFileSync(path.join(remote, 'd/b.txt'), 'utf8'), 'b');
  });

  it('falls back to a full push when the stored manifest is not usable', async () => {
    writeTree(local, { 'a.txt': 'a' });
    const result = await push({ previous: { version: 1, entries: { '../../etc/passwd': {} } } as unknown as Manifest });
    assert.equal(result.filesSent, 1);
  });

  it('refuses a local folder that does not exist or is a file', async () => {
    await assert.rejects(push(), (error) => isSandboxError(error, 'invalid-input') && /does not exist/.test(error.message));
    writeTree(folder.root, { 'plain.txt': 'x' });
    await assert.rejects(
      pushTree({ channel: localChannel(), localRoot: path.join(folder.root, 'plain.txt'), remoteDir: remote }),
      (error) => isSandboxError(error, 'invalid-input') && /not a folder/.test(error.message),
    );
  });

  it('reports a sandbox folder that cannot be created', async () => {
    writeTree(local, { 'a.txt': 'a' });
    writeTree(folder.root, { 'sandbox-file': 'blocks mkdir' });
    await assert.rejects(
      push({ remoteDir: path.join(folder.root, 'sandbox-file', 'sub') }),
      (error) => isSandboxError(error, 'provider-error') && /Could not unpack files into .* \(exit code 1\): mkdir: /.test(error.message),
    );
  });

  it('stops with a cancelled error when the signal aborts', async () => {
    const spec: Record<string, string> = {};
    for (let index = 0; index < 50; index++) spec[`f${index}.txt`] = 'x'.repeat(1000);
    writeTree(local, spec);
    const controller = new AbortController();

    await assert.rejects(push({ signal: controller.signal, onProgress: (progress) => progress.phase === 'send' && controller.abort() }), (error) =>
      isSandboxError(error, 'cancelled'),
    );
    await assert.rejects(push({ signal: AbortSignal.abort() }), (error) => isSandboxError(error, 'cancelled'));
  });
});
