import * as assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, realpathSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { confinedPath, fixedRoots, foldersOfRootUris, type HostRoots } from '../../../src/mcp/roots';

describe('MCP host roots', function () {
  const base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'mcp-roots-')));
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  const roots = fixedRoots([root]);

  before(async function () {
    await fs.mkdir(path.join(root, 'project', 'src'), { recursive: true });
    await fs.mkdir(outside);
    await fs.symlink(outside, path.join(root, 'escape'));
    await fs.symlink(path.join(root, 'project'), path.join(root, 'inner-link'));
    await fs.symlink(path.join(root, 'project'), path.join(outside, 'way-in'));
  });
  after(async () => fs.rm(base, { recursive: true, force: true }));

  it('takes paths inside a root, relative ones from the first root, and the root itself', async function () {
    assert.equal(await confinedPath(path.join(root, 'project'), roots, 'folder'), path.join(root, 'project'));
    assert.equal(await confinedPath('project/src', roots, 'folder'), path.join(root, 'project', 'src'));
    assert.equal(await confinedPath(root, roots, 'folder'), root);
  });

  it('takes a path not made yet under a root (a pull destination), judged by its nearest existing folder', async function () {
    assert.equal(await confinedPath('project/new/deeper', roots, 'folder'), path.join(root, 'project', 'new', 'deeper'));
    await assert.rejects(confinedPath('escape/new/deeper', roots, 'folder'), /outside the folders open to this server/);
  });

  it('refuses paths outside every root, by .. or by an absolute path', async function () {
    await assert.rejects(confinedPath('../outside', roots, 'folder'), /outside the folders open to this server/);
    await assert.rejects(confinedPath(outside, roots, 'folder'), /outside the folders open to this server/);
    await assert.rejects(confinedPath('/', roots, 'folder'), /outside/);
    await assert.rejects(confinedPath(`${root}-sibling`, roots, 'folder'), /outside/, 'a sibling sharing the prefix is not inside');
  });

  it('judges after resolving symlinks: a link out of a root is refused, a link into one is taken as its target', async function () {
    await assert.rejects(confinedPath('escape', roots, 'folder'), /outside/);
    assert.equal(await confinedPath('inner-link', roots, 'folder'), path.join(root, 'project'));
    assert.equal(await confinedPath(path.join(outside, 'way-in'), roots, 'folder'), path.join(root, 'project'));
  });

  it('opens nothing when the client lists no roots, and takes only file URIs from a listing', async function () {
    const none: HostRoots = { folders: async () => [] };
    await assert.rejects(confinedPath(root, none, 'folder'), /declares no roots/);
    assert.deepEqual(foldersOfRootUris([pathToFileURL(root).href, 'https://example.com/x', 'file://%zz']), [root]);
  });

  it('defaults to the working directory, and refuses empty or NUL paths', async function () {
    assert.deepEqual(await fixedRoots([], base).folders(), [base]);
    await assert.rejects(confinedPath('', roots, 'folder'), /Give the folder as a host path/);
    await assert.rejects(confinedPath('a\0b', roots, 'folder'), /Give the folder as a host path/);
  });
});
