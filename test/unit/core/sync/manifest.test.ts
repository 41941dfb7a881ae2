import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createTreeFilter, diffManifests, isUsableManifest, manifestEntry, scanTree, type Manifest } from '../../../../src/core/sync';
import { temporaryFolder, writeTree } from './helpers';

describe('manifests', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  beforeEach(() => (folder = temporaryFolder()));
  afterEach(() => folder.cleanup());

  const scan = (previous?: Manifest) => scanTree(folder.root, createTreeFilter(folder.root), previous);

  describe('scanTree', () => {
    it('records files, folders (empty ones too) and symlinks without following them', async () => {
      const outside = temporaryFolder();
      try {
        writeTree(outside.root, { 'not-ours.txt': 'x' });
        writeTree(folder.root, {
          'run.sh': { mode: 0o750, content: 'echo hi\n' },
          empty: null,
          'to-outside': { link: outside.root },
          'to-run': { link: 'run.sh' },
        });
        execFileSync('mkfifo', [path.join(folder.root, 'pipe')]);

        const manifest = await scan();

        assert.deepEqual(Object.keys(manifest.entries).sort(), ['empty', 'run.sh', 'to-outside', 'to-run']);
        const file = manifestEntry(manifest, 'run.sh');
        assert.equal(file?.type, 'file');
        assert.equal(file?.size, 8);
        assert.equal(file?.mode, 0o750);
        assert.equal(file?.hash, createHash('sha256').update('echo hi\n').digest('hex'));
        assert.equal(manifestEntry(manifest, 'to-outside')?.type, 'symlink');
        assert.equal(manifestEntry(manifest, 'to-outside')?.linkTarget, outside.root);
        assert.equal(manifestEntry(manifest, 'empty')?.type, 'dir');
      } finally {
        outside.cleanup();
      }
    });

    it('reuses the previous hash when size and mtime are unchanged, and rehashes otherwise', async () => {
      const file = path.join(folder.root, 'data.txt');
      const pinned = new Date('2024-01-01T00:00:00Z');
      writeFileSync(file, 'aaaa');
      utimesSync(file, pinned, pinned);
      const first = await scan();

      // Same size, same mtime: the scan must trust the previous hash and not read the file.
      writeFileSync(file, 'bbbb');
      utimesSync(file, pinned, pinned);
      assert.equal(manifestEntry(await scan(first), 'data.txt')?.hash, manifestEntry(first, 'data.txt')?.hash);
      assert.notEqual(manifestEntry(await scan(), 'data.txt')?.hash, manifestEntry(first, 'data.txt')?.hash);

      const later = new Date('2024-01-02T00:00:00Z');
      utimesSync(file, later, later);
      assert.notEqual(manifestEntry(await scan(first), 'data.txt')?.hash, manifestEntry(first, 'data.txt')?.hash);
    });

    it('handles paths named like Object.prototype members, through a JSON round trip', async () => {
      writeTree(folder.root, { __proto__: 'p', constructor: 'c', 'toString/x': 'x' });
      const stored = JSON.parse(JSON.stringify(await scan())) as Manifest;
      assert.equal(isUsableManifest(stored), true);
      assert.deepEqual(diffManifests(stored, await scan(stored)), { changed: [], deleted: [] });
      assert.equal(manifestEntry(stored, 'hasOwnProperty'), undefined);
    });
  });

  describe('diffManifests', () => {
    it('reports new and modified content, mode, type and link target, and deletions; not touches', async () => {
      writeTree(folder.root, {
        'same.txt': 'same',
        'touched.txt': 'touched',
        'edited.txt': 'v1',
        'chmod.sh': 'x',
        'becomes-dir': 'x',
        link: { link: 'same.txt' },
        'removed.txt': 'x',
      });
      const before = await scan();
      const later = new Date(Date.now() + 10_000);
      utimesSync(path.join(folder.root, 'touched.txt'), later, later);
      writeFileSync(path.join(folder.root, 'edited.txt'), 'v2');
      chmodSync(path.join(folder.root, 'chmod.sh'), 0o755);
      execFileSync('rm', [path.join(folder.root, 'becomes-dir'), path.join(folder.root, 'link'), path.join(folder.root, 'removed.txt')]);
      writeTree(folder.root, { 'becomes-dir/inner.txt': 'x', link: { link: 'edited.txt' }, 'added.txt': 'new' });

      const diff = diffManifests(before, await scan(before));

      assert.deepEqual(diff, {
        changed: ['added.txt', 'becomes-dir', 'becomes-dir/inner.txt', 'chmod.sh', 'edited.txt', 'link'],
        deleted: ['removed.txt'],
      });
    });

    it('treats everything as new without a previous manifest', async () => {
      writeTree(folder.root, { 'a/b.txt': 'b' });
      assert.deepEqual(diffManifests(undefined, await scan()), { changed: ['a', 'a/b.txt'], deleted: [] });
    });
  });

  describe('isUsableManifest', () => {
    it('rejects what is not a manifest, or names paths outside the tree', () => {
      const entry = { type: 'file', size: 1, mtimeMs: 1, mode: 0o644, hash: 'h' };
      assert.equal(isUsableManifest({ version: 1, entries: { 'a/b': entry } }), true);
      assert.equal(isUsableManifest({ version: 1, entries: { '../b': entry } }), false);
      assert.equal(isUsableManifest({ version: 1, entries: { '/etc/passwd': entry } }), false);
      assert.equal(isUsableManifest({ version: 1, entries: { 'a//b': entry } }), false);
      assert.equal(isUsableManifest({ version: 1, entries: { a: { type: 'socket' } } }), false);
      assert.equal(isUsableManifest({ version: 2, entries: {} }), false);
      assert.equal(isUsableManifest(undefined), false);
    });
  });
});
