import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { isSandboxError } from '../../../../src/core/errors';
import { applyPatch } from '../../../../src/core/gates/change/apply';
import { computePatch, copyTree } from '../../../../src/core/gates/change/patch';
import type { FileChange, Patch } from '../../../../src/core/gates/types';
import { createTreeFilter } from '../../../../src/core/sync';
import { contentListing, snapshot, temporaryFolder, writeTree } from '../sync/helpers';

const NUMBERS = Array.from({ length: 12 }, (_, index) => `line ${index + 1}\n`).join('');

describe('gates: applying a task change', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  let workspace: string;
  let baseDir: string;
  let afterDir: string;

  beforeEach(async () => {
    folder = temporaryFolder();
    workspace = path.join(folder.root, 'workspace');
    baseDir = path.join(folder.root, 'base');
    afterDir = path.join(folder.root, 'after');
    writeTree(folder.root, { 'outside/keep.txt': 'outside the workspace' });
    writeTree(workspace, {
      'numbers.txt': NUMBERS,
      'src/main.ts': 'export const a = 1;\n',
      'src/old-name.ts': 'export const moved = true;\n',
      'old-folder/only.txt': 'alone in its folder\n',
      'scripts/build.sh': { mode: 0o644, content: '#!/bin/sh\necho build\n' },
      'gone.txt': 'to be deleted\n',
      'image.bin': Buffer.from([0, 1, 2, 3]),
      link: { link: 'src/main.ts' },
    });
    await copyTree(workspace, baseDir, createTreeFilter(workspace));
    await copyTree(workspace, afterDir, createTreeFilter(workspace));
  });
  afterEach(() => folder.cleanup());

  const patchOf = () => computePatch(baseDir, afterDir, createTreeFilter(baseDir));
  const edit = (root: string, relativePath: string, replace: (text: string) => string) =>
    writeFileSync(path.join(root, relativePath), replace(readFileSync(path.join(root, relativePath), 'utf8')));
  const conflictNaming = (pattern: RegExp) => (error: unknown) =>
    isSandboxError(error, 'conflict') && pattern.test(error.message) && /nothing was written/i.test(error.message);
  const refused = (pattern: RegExp) => (error: unknown) =>
    isSandboxError(error) && pattern.test(error.message) && /Nothing was (applied|written)/.test(error.message);

  it('applies a whole change: the workspace ends up as the sandbox left it, with no staging left behind', async () => {
    writeTree(afterDir, { 'numbers.txt': NUMBERS.replace('line 2\n', 'line two\n'), 'new/deep/file.ts': 'fresh\n', 'image.bin': Buffer.from([9, 0, 9]) });
    renameSync(path.join(afterDir, 'src/old-name.ts'), path.join(afterDir, 'src/new-name.ts'));
    rmSync(path.join(afterDir, 'gone.txt'));
    rmSync(path.join(afterDir, 'old-folder'), { recursive: true });
    chmodSync(path.join(afterDir, 'scripts/build.sh'), 0o755);
    unlinkSync(path.join(afterDir, 'link'));
    symlinkSync('numbers.txt', path.join(afterDir, 'link'));

    const result = await applyPatch({ workspace, patch: await patchOf() });
    assert.deepEqual(contentListing(workspace), contentListing(afterDir));
    assert.deepEqual(result.applied, [
      'gone.txt',
      'image.bin',
      'link',
      'new/deep/file.ts',
      'numbers.txt',
      'old-folder/only.txt',
      'scripts/build.sh',
      'src/new-name.ts',
      'src/old-name.ts',
    ]);
    assert.deepEqual(result.merged, []);
    assert.equal(existsSync(path.join(workspace, '.sandboxes')), false);
  });

  it('replaces a file by a folder and a folder by a file', async () => {
    rmSync(path.join(afterDir, 'gone.txt'));
    rmSync(path.join(afterDir, 'old-folder'), { recursive: true });
    writeTree(afterDir, { 'gone.txt/inside.txt': 'now a folder\n', 'old-folder': 'now a file\n' });
    const result = await applyPatch({ workspace, patch: await patchOf() });
    assert.deepEqual(contentListing(workspace), contentListing(afterDir));
    assert.deepEqual(result.applied, ['gone.txt', 'gone.txt/inside.txt', 'old-folder', 'old-folder/only.txt']);
  });

  it('keeps an edit made here on other lines of the same file (three-way merge)', async () => {
    edit(afterDir, 'numbers.txt', (text) => text.replace('line 2\n', 'line two\n'));
    edit(workspace, 'numbers.txt', (text) => text.replace('line 11\n', 'line eleven\n'));
    const result = await applyPatch({ workspace, patch: await patchOf() });
    assert.equal(readFileSync(path.join(workspace, 'numbers.txt'), 'utf8'), NUMBERS.replace('line 2\n', 'line two\n').replace('line 11\n', 'line eleven\n'));
    assert.deepEqual(result, { applied: ['numbers.txt'], merged: ['numbers.txt'] });
  });

  it('merges modes three ways too, and never lets a change open writing to others', async () => {
    edit(afterDir, 'scripts/build.sh', (text) => `${text}echo done\n`);
    chmodSync(path.join(workspace, 'scripts/build.sh'), 0o755);
    writeTree(afterDir, { 'shared.txt': { mode: 0o666, content: 'made with umask 0\n' } });
    chmodSync(path.join(afterDir, 'shared.txt'), 0o666);
    const result = await applyPatch({ workspace, patch: await patchOf() });
    assert.equal(readFileSync(path.join(workspace, 'scripts/build.sh'), 'utf8'), '#!/bin/sh\necho build\necho done\n');
    assert.equal(lstatSync(path.join(workspace, 'scripts/build.sh')).mode & 0o7777, 0o755);
    assert.equal(lstatSync(path.join(workspace, 'shared.txt')).mode & 0o7777, 0o644);
    assert.deepEqual(result.merged, ['scripts/build.sh']);
  });

  it('applies to a workspace reached through a link', async () => {
    const alias = path.join(folder.root, 'alias');
    symlinkSync(workspace, alias);
    edit(afterDir, 'src/main.ts', () => 'export const a = 2;\n');
    await applyPatch({ workspace: alias, patch: await patchOf() });
    assert.equal(readFileSync(path.join(workspace, 'src/main.ts'), 'utf8'), 'export const a = 2;\n');
    assert.ok(lstatSync(alias).isSymbolicLink());
  });

  it('has nothing to do where the workspace already holds the result', async () => {
    edit(afterDir, 'numbers.txt', (text) => `${text}more\n`);
    edit(workspace, 'numbers.txt', (text) => `${text}more\n`);
    writeTree(afterDir, { 'same.txt': 'same\n' });
    writeTree(workspace, { 'same.txt': 'same\n' });
    rmSync(path.join(afterDir, 'gone.txt'));
    rmSync(path.join(workspace, 'gone.txt'));
    const before = snapshot(workspace);
    assert.deepEqual(await applyPatch({ workspace, patch: await patchOf() }), { applied: [], merged: [] });
    assert.deepEqual(snapshot(workspace), before);
  });

  describe('conflicts: nothing is written', () => {
    it('the same lines changed here and by the task', async () => {
      writeTree(afterDir, { 'new.txt': 'would be added\n' });
      edit(afterDir, 'numbers.txt', (text) => text.replace('line 5\n', 'task five\n'));
      edit(workspace, 'numbers.txt', (text) => text.replace('line 5\n', 'my five\n'));
      const before = snapshot(workspace);
      await assert.rejects(applyPatch({ workspace, patch: await patchOf() }), conflictNaming(/"numbers.txt" has the same lines changed/));
      assert.deepEqual(snapshot(workspace), before);
    });

    it('a binary file, a deleted file edited here, an added file that exists here: all named', async () => {
      writeTree(afterDir, { 'image.bin': Buffer.from([7, 0, 7]), 'added.txt': 'task\n' });
      writeTree(workspace, { 'image.bin': Buffer.from([8, 0, 8]), 'added.txt': 'mine\n', 'gone.txt': 'edited here\n' });
      rmSync(path.join(afterDir, 'gone.txt'));
      const before = snapshot(workspace);
      await assert.rejects(applyPatch({ workspace, patch: await patchOf() }), conflictNaming(/3 files conflict .*\(added.txt, gone.txt, image.bin\)/));
      assert.deepEqual(snapshot(workspace), before);
    });

    it('names ten files, then how many more', async () => {
      for (let index = 0; index < 13; index++) {
        writeTree(afterDir, { [`f${String(index).padStart(2, '0')}.txt`]: 'task\n' });
        writeTree(workspace, { [`f${String(index).padStart(2, '0')}.txt`]: 'mine\n' });
      }
      await assert.rejects(applyPatch({ workspace, patch: await patchOf() }), conflictNaming(/13 files conflict .*f09.txt and 3 more\)/));
    });
  });

  describe('refuses hostile changes, leaving the workspace byte-for-byte as it was', () => {
    let patch: Patch;
    let before: Record<string, string>[];
    /** The workspace and its neighbour: what a refused change must leave alone. */
    const protectedTrees = () => [snapshot(workspace), snapshot(path.join(folder.root, 'outside'))];
    beforeEach(async () => {
      writeTree(afterDir, { 'numbers.txt': 'changed\n' });
      patch = await patchOf();
      before = protectedTrees();
    });
    const crafted = (change: Partial<FileChange> & { path: string }): Patch => ({
      ...patch,
      changes: [...patch.changes, { kind: 'added', type: 'file', mode: 0o644, binary: false, addedLines: 1, removedLines: 0, ...change }],
    });
    const assertRefused = async (hostile: Patch, pattern: RegExp) => {
      await assert.rejects(applyPatch({ workspace, patch: hostile }), refused(pattern));
      assert.deepEqual(protectedTrees(), before);
    };

    it('a path climbing out', () => assertRefused(crafted({ path: '../x' }), /"\.\.\/x" is not a plain relative path/));
    it('an absolute path', () => assertRefused(crafted({ path: '/etc/passwd' }), /"\/etc\/passwd" is an absolute path/));
    it('a name with a control character (it could hide lines of a review)', () => assertRefused(crafted({ path: 'a\u001b[2Kb' }), /has a control character/));
    it("a write into git's metadata", () => assertRefused(crafted({ path: '.git/config' }), /"\.git\/config" is inside git's metadata/));
    it("a write into git's metadata in another case", () => assertRefused(crafted({ path: 'sub/.GIT/hooks/pre-commit' }), /is inside git's metadata/));
    it('a link to /', () => assertRefused(crafted({ path: 'root', type: 'symlink', linkTarget: '/' }), /"root" is a symlink to the absolute path "\/"/));
    it('a link to ../../outside', () =>
      assertRefused(crafted({ path: 'sub/out', type: 'symlink', linkTarget: '../../outside' }), /leads outside the workspace/));
    it('a setuid mode', () => assertRefused(crafted({ path: 'src/main.ts', kind: 'modified', mode: 0o4755 }), /has the setuid or setgid bit/));

    it('a file whose copy is not what the change describes', async () => {
      symlinkSync('/etc', path.join(afterDir, 'disguised'));
      await assertRefused(crafted({ path: 'disguised', type: 'file' }), /"disguised" is a symlink in the copy of the sandbox/);
    });

    it('a setuid file in the copy of the sandbox, described as harmless', async () => {
      writeTree(afterDir, { tool: { mode: 0o755, content: 'binary' } });
      chmodSync(path.join(afterDir, 'tool'), 0o4755);
      await assertRefused(crafted({ path: 'tool', mode: 0o755 }), /"tool" has the setuid or setgid bit/);
    });

    it('a write below a folder of the workspace that is a link leading outside', async () => {
      symlinkSync(path.join(folder.root, 'outside'), path.join(workspace, 'linked'));
      writeTree(afterDir, { 'linked/keep.txt': 'overwritten?' });
      before = protectedTrees();
      await assertRefused(crafted({ path: 'linked/keep.txt', kind: 'added' }), /"linked" in the workspace is a link or a file, not a folder/);
      assert.equal(readFileSync(path.join(folder.root, 'outside/keep.txt'), 'utf8'), 'outside the workspace');
    });
  });

  it('replaces a link of the workspace rather than writing through it', async () => {
    unlinkSync(path.join(afterDir, 'link'));
    writeTree(afterDir, { link: 'now a file\n' });
    await applyPatch({ workspace, patch: await patchOf() });
    assert.equal(lstatSync(path.join(workspace, 'link')).isFile(), true);
    assert.equal(readFileSync(path.join(workspace, 'src/main.ts'), 'utf8'), 'export const a = 1;\n');
  });

  it('puts everything back when a write fails midway', async function () {
    // In commit order: a deletion, new folders, a replaced file, then the write that fails.
    writeTree(afterDir, { 'brand/new/file.txt': 'needs two folders\n', 'numbers.txt': 'changed\n', 'scripts/new.sh': 'cannot be written\n' });
    rmSync(path.join(afterDir, 'gone.txt'));
    const locked = path.join(workspace, 'scripts');
    // Never skipped: a file system where no lock holds makes this test fail, saying so.
    assert.ok(lockFolder(locked), `${locked} could not be made to refuse new entries (chattr +i as root, mode 0555 otherwise) on this file system`);
    try {
      const before = contentListing(workspace);
      await assert.rejects(
        applyPatch({ workspace, patch: await patchOf() }),
        (error) => isSandboxError(error, 'wrong-state') && /scripts\/new\.sh.*put back as it was/.test(error.message),
      );
      assert.deepEqual(contentListing(workspace), before);
      assert.equal(existsSync(path.join(workspace, '.sandboxes')), false);
    } finally {
      unlockFolder(locked);
    }
  });
});

/** Makes a folder refuse new entries for real: a read-only mode, or for root (who ignores modes) the immutable attribute. */
function lockFolder(folder: string): boolean {
  try {
    if (process.getuid?.() === 0) execFileSync('chattr', ['+i', folder], { stdio: 'ignore' });
    else chmodSync(folder, 0o555);
    const probe = path.join(folder, '.probe');
    writeFileSync(probe, '');
    rmSync(probe);
    unlockFolder(folder);
    return false; // the lock did not hold on this file system
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EACCES' || (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function unlockFolder(folder: string): void {
  if (process.getuid?.() === 0) execFileSync('chattr', ['-i', folder], { stdio: 'ignore' });
  else chmodSync(folder, 0o755);
}
