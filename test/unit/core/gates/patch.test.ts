import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { isSandboxError } from '../../../../src/core/errors';
import { computePatch, copyTree, unifiedDiff } from '../../../../src/core/gates/change/patch';
import type { FileChange } from '../../../../src/core/gates/types';
import { createTreeFilter } from '../../../../src/core/sync';
import { contentListing, temporaryFolder, writeTree } from '../sync/helpers';

describe('gates: a task change as a patch', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  let workspace: string;
  let baseDir: string;
  let afterDir: string;

  beforeEach(() => {
    folder = temporaryFolder();
    workspace = path.join(folder.root, 'workspace');
    baseDir = path.join(folder.root, 'base');
    afterDir = path.join(folder.root, 'after');
    writeTree(workspace, {
      'README.md': 'line 1\nline 2\nline 3\n',
      'src/main.ts': 'export const a = 1;\nexport const b = 2;\n',
      'src/old-name.ts': 'export const moved = true;\n',
      'scripts/build.sh': { mode: 0o644, content: '#!/bin/sh\necho build\n' },
      'gone.txt': 'to be deleted\nsecond line\n',
      'image.bin': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02]),
      'link-to-readme': { link: 'README.md' },
      '.gitignore': 'build/\n',
      'build/output.js': 'generated',
      'node_modules/dep/index.js': 'dependency',
    });
  });
  afterEach(() => folder.cleanup());

  /** Base and after as a push and a pull would leave them: two copies of the workspace. */
  async function copies(): Promise<void> {
    await copyTree(workspace, baseDir, createTreeFilter(workspace));
    await copyTree(workspace, afterDir, createTreeFilter(workspace));
  }

  const patchOf = () => computePatch(baseDir, afterDir, createTreeFilter(baseDir));
  const byPath = (changes: FileChange[]) => Object.fromEntries(changes.map((change) => [change.path, change]));

  describe('copyTree', () => {
    it('copies what a push sends: files with their modes, links as links, nothing excluded', async () => {
      chmodSync(path.join(workspace, 'scripts/build.sh'), 0o755);
      const manifest = await copyTree(workspace, baseDir, createTreeFilter(workspace));
      assert.equal(readFileSync(path.join(baseDir, 'src/main.ts'), 'utf8'), 'export const a = 1;\nexport const b = 2;\n');
      assert.equal(lstatSync(path.join(baseDir, 'scripts/build.sh')).mode & 0o777, 0o755);
      assert.equal(readlinkSync(path.join(baseDir, 'link-to-readme')), 'README.md');
      assert.throws(() => lstatSync(path.join(baseDir, 'node_modules')), /ENOENT/);
      assert.throws(() => lstatSync(path.join(baseDir, 'build')), /ENOENT/);
      assert.ok(manifest.entries['src/main.ts']);
      assert.equal(manifest.entries['build/output.js'], undefined);
    });

    it('never follows a link: a link to a folder outside stays a link, and an absolute one inside becomes relative as in a push', async () => {
      writeTree(folder.root, { 'outside/secret.txt': 'secret' });
      symlinkSync(path.join(folder.root, 'outside'), path.join(workspace, 'outside-link'));
      symlinkSync(path.join(workspace, 'src/main.ts'), path.join(workspace, 'absolute-inside'));
      await copyTree(workspace, baseDir, createTreeFilter(workspace));
      assert.ok(lstatSync(path.join(baseDir, 'outside-link')).isSymbolicLink());
      assert.equal(readlinkSync(path.join(baseDir, 'absolute-inside')), 'src/main.ts');
    });

    it('refuses a destination that already has content', async () => {
      writeTree(baseDir, { stale: 'x' });
      await assert.rejects(copyTree(workspace, baseDir, createTreeFilter(workspace)), (error) => isSandboxError(error, 'invalid-input'));
    });
  });

  describe('computePatch', () => {
    it('finds nothing when the task changed nothing', async () => {
      await copies();
      const patch = await patchOf();
      assert.deepEqual(patch.changes, []);
      assert.deepEqual(patch.stats, { files: 0, addedLines: 0, removedLines: 0 });
    });

    it('describes added, modified, deleted, renamed, binary, mode-only and link changes, sorted by path', async () => {
      await copies();
      writeTree(afterDir, {
        'README.md': 'line 1\nline two\nline 3\nline 4\n',
        'src/new.ts': 'a\nb\nc\n',
        'image.bin': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x09]),
        'latin1.txt': Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]),
      });
      renameSync(path.join(afterDir, 'src/old-name.ts'), path.join(afterDir, 'src/new-name.ts'));
      unlinkSync(path.join(afterDir, 'gone.txt'));
      chmodSync(path.join(afterDir, 'scripts/build.sh'), 0o755);
      unlinkSync(path.join(afterDir, 'link-to-readme'));
      symlinkSync('src/main.ts', path.join(afterDir, 'link-to-readme'));

      const patch = await patchOf();
      const paths = patch.changes.map((change) => change.path);
      assert.deepEqual(paths, [...paths].sort());
      const changes = byPath(patch.changes);
      assert.deepEqual(Object.keys(changes).sort(), [
        'README.md',
        'gone.txt',
        'image.bin',
        'latin1.txt',
        'link-to-readme',
        'scripts/build.sh',
        'src/new-name.ts',
        'src/new.ts',
        'src/old-name.ts',
      ]);
      assert.deepEqual(changes['README.md'], { path: 'README.md', kind: 'modified', type: 'file', mode: 0o644, binary: false, addedLines: 2, removedLines: 1 });
      assert.deepEqual(changes['src/new.ts'], { path: 'src/new.ts', kind: 'added', type: 'file', mode: 0o644, binary: false, addedLines: 3, removedLines: 0 });
      assert.deepEqual(changes['gone.txt'], { path: 'gone.txt', kind: 'deleted', binary: false, addedLines: 0, removedLines: 2 });
      assert.equal(changes['image.bin']!.binary, true);
      assert.equal(changes['latin1.txt']!.binary, true, 'invalid UTF-8 counts as binary');
      assert.deepEqual(changes['scripts/build.sh'], {
        path: 'scripts/build.sh',
        kind: 'modified',
        type: 'file',
        mode: 0o755,
        binary: false,
        addedLines: 0,
        removedLines: 0,
      });
      assert.equal(changes['link-to-readme']!.type, 'symlink');
      assert.equal(changes['link-to-readme']!.linkTarget, 'src/main.ts');
      assert.equal(changes['src/new-name.ts']!.renamedFrom, 'src/old-name.ts');
      assert.equal(changes['src/new-name.ts']!.addedLines, 0);
      assert.equal(changes['src/old-name.ts']!.kind, 'deleted');
      assert.deepEqual(patch.stats, { files: 9, addedLines: 5, removedLines: 3 });
    });

    it("leaves out git's metadata and judges paths by the base's ignore rules, so a task cannot hide a file", async () => {
      writeTree(workspace, { '.git/HEAD': 'ref: refs/heads/main\n' });
      await copies();
      writeTree(afterDir, { '.git/HEAD': 'ref: refs/heads/other\n', '.gitignore': 'build/\nhidden.txt\n', 'hidden.txt': 'sneaky', 'build/new.js': 'ignored' });
      const changes = byPath((await patchOf()).changes);
      assert.deepEqual(Object.keys(changes).sort(), ['.gitignore', 'hidden.txt']);
    });

    it('does not count as changed a link a pull spells another way (./x comes back as x)', async () => {
      symlinkSync('./README.md', path.join(workspace, 'dotted'));
      symlinkSync('../src/../README.md', path.join(workspace, 'scripts/roundabout'));
      await copies();
      for (const [link, spelled] of [
        ['dotted', 'README.md'],
        ['scripts/roundabout', '../README.md'],
      ]) {
        unlinkSync(path.join(afterDir, link!));
        symlinkSync(spelled!, path.join(afterDir, link!));
      }
      assert.deepEqual((await patchOf()).changes, []);
    });

    it('does not count as deleted a link leading outside, which a pull never brings back', async () => {
      symlinkSync('/usr/lib', path.join(workspace, 'system-lib'));
      await copies();
      unlinkSync(path.join(afterDir, 'system-lib'));
      assert.deepEqual((await patchOf()).changes, []);
    });

    describe('refuses the whole change when the sandbox left something hostile', () => {
      const refused = (name: RegExp) => (error: unknown) =>
        isSandboxError(error, 'unsafe-archive') && name.test(error.message) && /Nothing was applied/.test(error.message);

      it('a link to /', async () => {
        await copies();
        symlinkSync('/', path.join(afterDir, 'root'));
        await assert.rejects(patchOf(), refused(/"root" is a symlink to the absolute path/));
      });

      it('a link climbing out with ../..', async () => {
        await copies();
        symlinkSync('../../outside', path.join(afterDir, 'src/escape'));
        await assert.rejects(patchOf(), refused(/"src\/escape".*leads outside the workspace/));
      });

      it('a link that leaves only once another link is followed', async () => {
        await copies();
        mkdirSync(path.join(afterDir, 'sub'));
        symlinkSync('..', path.join(afterDir, 'sub/up'));
        symlinkSync('sub/up/..', path.join(afterDir, 'sneaky'));
        await assert.rejects(patchOf(), refused(/"sneaky"/));
      });

      it('a fifo', async function () {
        await copies();
        try {
          execFileSync('mkfifo', [path.join(afterDir, 'pipe')]);
        } catch {
          this.skip();
        }
        await assert.rejects(patchOf(), refused(/"pipe" is a fifo, socket or device/));
      });

      it('a setuid file, even one already in the base', async () => {
        await copies();
        chmodSync(path.join(afterDir, 'scripts/build.sh'), 0o4755);
        await assert.rejects(patchOf(), refused(/"scripts\/build.sh" has the setuid or setgid bit/));
      });
    });
  });

  describe('unifiedDiff', () => {
    it('shows the whole change in git format, binary files and moves included', async () => {
      await copies();
      writeTree(afterDir, { 'README.md': 'line 1\nline two\nline 3\n', 'image.bin': Buffer.from([0, 1, 2]), 'new.txt': 'fresh\n' });
      renameSync(path.join(afterDir, 'src/old-name.ts'), path.join(afterDir, 'src/new-name.ts'));
      rmSync(path.join(afterDir, 'gone.txt'));
      chmodSync(path.join(afterDir, 'scripts/build.sh'), 0o755);
      const text = await unifiedDiff(await patchOf());
      assert.match(
        text,
        /diff --git a\/README.md b\/README.md\n--- a\/README.md\n\+\+\+ b\/README.md\n@@ -1,3 \+1,3 @@\n line 1\n-line 2\n\+line two\n line 3\n/,
      );
      assert.match(text, /diff --git a\/image.bin b\/image.bin\nBinary files differ\n/);
      assert.match(text, /diff --git a\/new.txt b\/new.txt\nnew file mode 100644\n--- \/dev\/null\n\+\+\+ b\/new.txt\n@@ -0,0 \+1,1 @@\n\+fresh\n/);
      assert.match(text, /deleted file mode 100644\n--- a\/gone.txt\n\+\+\+ \/dev\/null\n@@ -1,2 \+0,0 @@\n/);
      assert.match(
        text,
        /diff --git a\/src\/old-name.ts b\/src\/new-name.ts\nsimilarity index 100%\nrename from src\/old-name.ts\nrename to src\/new-name.ts\n/,
      );
      assert.match(text, /old mode 100644\nnew mode 100755\n/);
      assert.doesNotMatch(text, /diff --git a\/src\/old-name.ts b\/src\/old-name.ts/);
    });
  });

  it('leaves the trees it compares untouched', async () => {
    await copies();
    writeFileSync(path.join(afterDir, 'README.md'), 'changed\n');
    const before = [contentListing(baseDir), contentListing(afterDir)];
    await unifiedDiff(await patchOf());
    assert.deepEqual([contentListing(baseDir), contentListing(afterDir)], before);
  });
});
