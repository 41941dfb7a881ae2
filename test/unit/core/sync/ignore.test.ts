import * as assert from 'node:assert/strict';
import { createPathFilter, createTreeFilter, scanTree, type TreeFilter } from '../../../../src/core/sync';
import { temporaryFolder, writeTree } from './helpers';

describe('sync filters', () => {
  describe('createPathFilter', () => {
    const filter = createPathFilter(['*.tmp', 'secrets/']);

    it('excludes caches at any depth but keeps .git', () => {
      assert.equal(filter.isExcluded('node_modules', true), true);
      assert.equal(filter.isExcluded('packages/web/node_modules', true), true);
      assert.equal(filter.isExcluded('node_modules/left-pad/index.js', false), true);
      assert.equal(filter.isExcluded('app/__pycache__', true), true);
      assert.equal(filter.isExcluded('app/module.pyc', false), true);
      assert.equal(filter.isExcluded('.venv', true), true);
      assert.equal(filter.isExcluded('.pytest_cache', true), true);
      assert.equal(filter.isExcluded('docs/.DS_Store', false), true);
      assert.equal(filter.isExcluded('.git', true), false);
      assert.equal(filter.isExcluded('.git/objects/ab/cdef', false), false);
      assert.equal(filter.isExcluded('app/module.py', false), false);
    });

    it('adds extra patterns in gitignore syntax, folder-only ones included', () => {
      assert.equal(filter.isExcluded('build/out.tmp', false), true);
      assert.equal(filter.isExcluded('secrets', true), true);
      assert.equal(filter.isExcluded('secrets', false), false, 'a trailing slash only matches folders');
    });
  });

  describe('createTreeFilter', () => {
    let folder: ReturnType<typeof temporaryFolder>;
    beforeEach(() => (folder = temporaryFolder()));
    afterEach(() => folder.cleanup());

    /** Scans the tree and returns the paths kept, plus every path the filter was asked about. */
    async function scan(spec: Parameters<typeof writeTree>[1], excludes: string[] = []) {
      writeTree(folder.root, spec);
      const inner = createTreeFilter(folder.root, excludes);
      const asked: string[] = [];
      const filter: TreeFilter = {
        loadGitignore: (dir) => inner.loadGitignore(dir),
        isExcluded: (relativePath, isDirectory) => {
          asked.push(relativePath);
          return inner.isExcluded(relativePath, isDirectory);
        },
      };
      const manifest = await scanTree(folder.root, filter);
      return { kept: Object.keys(manifest.entries).sort(), asked };
    }

    it('applies nested .gitignore files relative to their own folder', async () => {
      const { kept } = await scan({
        '.gitignore': '*.log\n',
        'app.log': 'x',
        'web/.gitignore': '/dist\n!important.log\n',
        'web/dist/bundle.js': 'x',
        'web/important.log': 'x',
        'web/debug.log': 'x',
        'api/dist/keep.js': 'the web rule is anchored to web/',
      });
      assert.deepEqual(kept, ['.gitignore', 'api', 'api/dist', 'api/dist/keep.js', 'web', 'web/.gitignore', 'web/important.log']);
    });

    it('lets a deeper .gitignore exclude what a shallower one re-included', async () => {
      const { kept } = await scan({
        '.gitignore': '*.cache\n!keep.cache\n',
        'keep.cache': 'x',
        'sub/.gitignore': 'keep.cache\n',
        'sub/keep.cache': 'x',
      });
      assert.deepEqual(kept, ['.gitignore', 'keep.cache', 'sub', 'sub/.gitignore']);
    });

    it('prunes excluded folders: nothing inside them is even looked at', async () => {
      const { kept, asked } = await scan(
        { '.gitignore': 'generated/\n', 'generated/a/b.txt': 'x', 'node_modules/dep/index.js': 'x', 'big/data.bin': 'x', 'src/main.ts': 'x' },
        ['big'],
      );
      assert.deepEqual(kept, ['.gitignore', 'src', 'src/main.ts']);
      assert.deepEqual(
        asked.filter((relativePath) => relativePath.includes('/') && !relativePath.startsWith('src/')),
        [],
      );
    });

    it('never applies .gitignore rules inside .git', async () => {
      const { kept } = await scan({ '.gitignore': '*\n!.gitignore\n', '.git/HEAD': 'ref\n', '.git/objects/pack/p.pack': 'x' });
      assert.deepEqual(kept, ['.git', '.git/HEAD', '.git/objects', '.git/objects/pack', '.git/objects/pack/p.pack', '.gitignore']);
    });

    it('treats a folder named .gitignore as a folder', async () => {
      const { kept } = await scan({ '.gitignore/readme': 'odd but legal' });
      assert.deepEqual(kept, ['.gitignore', '.gitignore/readme']);
    });
  });
});
