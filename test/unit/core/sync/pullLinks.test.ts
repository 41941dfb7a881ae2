import * as assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { isSandboxError } from '../../../../src/core/errors';
import { pullTree, type PullOptions } from '../../../../src/core/sync';
import { craftArchive, hostileChannel, snapshot, temporaryFolder, writeTree, type CraftedEntry } from './helpers';
import { assertLinksStayInside } from './linkChecks';

const REMOTE_DIR = '/home/agent/workspace';

describe('pullTree and symlinks', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  let work: string;
  let target: string;

  beforeEach(() => {
    folder = temporaryFolder();
    work = path.join(folder.root, 'work');
    target = path.join(work, 'target');
    writeTree(work, { 'target/existing.txt': 'local content', 'neighbour.txt': 'next to the target' });
  });
  afterEach(() => folder.cleanup());

  const pull = async (entries: CraftedEntry[], options: Partial<PullOptions> = {}) =>
    pullTree({ channel: hostileChannel(await craftArchive(entries)), remoteDir: REMOTE_DIR, localRoot: target, ...options });
  const linkAt = (relativePath: string) => readlinkSync(path.join(target, relativePath));
  const link = (name: string, linkname: string): CraftedEntry => ({ name, type: 'symlink', linkname });

  describe('links that stay inside the pulled folder', () => {
    it('keeps a venv whose interpreter link leads outside: that link is skipped and listed, its own links kept', async () => {
      const result = await pull([
        { name: './', type: 'directory' },
        { name: 'venv/bin/activate', content: 'VIRTUAL_ENV=/home/agent/workspace/venv\n' },
        link('venv/bin/python3', '/usr/bin/python3'),
        link('venv/bin/python', 'python3'),
        link('venv/bin/python3.11', 'python3'),
        { name: 'venv/lib/python3.11/site-packages/tool.py', content: 'x = 1\n' },
        link('venv/lib64', 'lib'),
        { name: 'venv/pyvenv.cfg', content: 'home = /usr/bin\n' },
      ]);

      assert.deepEqual(result.skippedLinks, [{ path: 'venv/bin/python3', target: '/usr/bin/python3', reason: `points outside ${REMOTE_DIR}` }]);
      assert.equal(existsSync(path.join(target, 'venv/bin/python3')), false);
      assert.equal(linkAt('venv/bin/python'), 'python3');
      assert.equal(linkAt('venv/bin/python3.11'), 'python3');
      assert.equal(linkAt('venv/lib64'), 'lib');
      assert.equal(readFileSync(path.join(target, 'venv/lib64/python3.11/site-packages/tool.py'), 'utf8'), 'x = 1\n');
      assert.equal(result.files, 6, 'three files and three links');
      assertLinksStayInside(target);
    });

    it('writes absolute links into the folder, and links to the folder itself, as relative ones', async () => {
      const result = await pull([
        { name: 'out/a', content: 'a' },
        link('out/b', `${REMOTE_DIR}/out/a`),
        link('deep/er/c', `${REMOTE_DIR}//out/./a`),
        link('deep/er/up', `${REMOTE_DIR}/deep/x/../er`),
        link('self', '.'),
        link('root', REMOTE_DIR),
        link('deep/root', `${REMOTE_DIR}/`),
        link('deep/parent', '..'),
        // Out of the folder and back in: where it ends is what counts.
        link('back', `../${path.posix.basename(REMOTE_DIR)}/out/a`),
      ]);

      assert.deepEqual(result.skippedLinks, []);
      assert.equal(linkAt('out/b'), 'a');
      assert.equal(linkAt('deep/er/c'), '../../out/a');
      assert.equal(linkAt('deep/er/up'), '.');
      assert.equal(linkAt('self'), '.');
      assert.equal(linkAt('root'), '.');
      assert.equal(linkAt('deep/root'), '..');
      assert.equal(linkAt('deep/parent'), '..');
      assert.equal(linkAt('back'), 'out/a');
      assert.equal(readFileSync(path.join(target, 'deep/er/c'), 'utf8'), 'a');
      assertLinksStayInside(target);
    });

    it("follows '..' after a link the way the sandbox does, including links that come later in the archive", async () => {
      const result = await pull([
        link('early', 'jump/../sibling.txt'), // `jump` is only described further down
        { name: 'sub/deep/', type: 'directory' },
        { name: 'sub/sibling.txt', content: 'sibling' },
        link('jump', 'sub/deep'),
        link('absolute', `${REMOTE_DIR}/jump/../sibling.txt`),
        // node_modules is excluded, so not written; the sandbox still climbs from where it leads.
        link('node_modules', 'sub/deep'),
        link('through-excluded', 'node_modules/../sibling.txt'),
      ]);

      assert.deepEqual(result.skippedLinks, []);
      assert.equal(linkAt('early'), 'sub/sibling.txt');
      assert.equal(linkAt('absolute'), 'sub/sibling.txt');
      assert.equal(linkAt('through-excluded'), 'sub/sibling.txt');
      assert.equal(existsSync(path.join(target, 'node_modules')), false);
      assert.equal(readFileSync(path.join(target, 'early'), 'utf8'), 'sibling');
      assertLinksStayInside(target);
    });
  });

  describe('links that lead outside', () => {
    it("skips a '..' after a link that leads outside, naming that link", async () => {
      const result = await pull([link('ssl', '/etc/ssl'), link('passwd', 'ssl/../passwd'), { name: 'kept.txt', content: 'kept' }]);

      assert.deepEqual(result.skippedLinks, [
        { path: 'ssl', target: '/etc/ssl', reason: `points outside ${REMOTE_DIR}` },
        { path: 'passwd', target: 'ssl/../passwd', reason: `leads outside ${REMOTE_DIR} through the link "ssl"` },
      ]);
      assert.equal(readFileSync(path.join(target, 'kept.txt'), 'utf8'), 'kept');
      assert.deepEqual(readdirSync(target).sort(), ['existing.txt', 'kept.txt']);
    });

    it('keeps a link to a link that leads outside as a link inside, which then leads nowhere', async () => {
      const result = await pull([link('a', 'b'), link('b', '/etc/passwd')]);

      assert.deepEqual(
        result.skippedLinks.map((skipped) => skipped.path),
        ['b'],
      );
      assert.equal(linkAt('a'), 'b');
      assert.equal(existsSync(path.join(target, 'a')), false, 'a dangles: b was not written');
      assertLinksStayInside(target);
    });

    it('skips links that climb through each other in a loop, saying so', async () => {
      const result = await pull([link('a', 'b/..'), link('b', 'a/..'), link('c', 'c')]);

      assert.deepEqual(
        result.skippedLinks.map(({ path: where, reason }) => [where, reason]),
        [
          ['a', 'goes through a loop of links (b)'],
          ['b', 'goes through a loop of links (a)'],
        ],
      );
      assert.equal(linkAt('c'), 'c', 'a link to itself leads nowhere, and stays inside');
    });

    it('leaves a local entry where a skipped link would have gone', async () => {
      writeTree(target, { tool: 'local tool' });
      const result = await pull([link('tool', '/usr/bin/tool')]);
      assert.equal(result.skippedLinks.length, 1);
      assert.equal(readFileSync(path.join(target, 'tool'), 'utf8'), 'local tool');
      assert.deepEqual(result.replacedLinks, []);
    });
  });

  describe('names no real tar writes', () => {
    const refused: Array<{ title: string; entries: CraftedEntry[]; reason: RegExp }> = [
      { title: 'a name longer than 255 bytes', entries: [{ name: `${'n'.repeat(300)}.txt`, content: 'x' }], reason: /name longer than 255 bytes/ },
      {
        title: 'a path longer than the system allows',
        entries: [{ name: `${Array.from({ length: 20 }, () => 'd'.repeat(250)).join('/')}/file`, content: 'x' }],
        reason: /path longer than this system allows/,
      },
      { title: 'a link target longer than 4095 bytes', entries: [link('long', 'x/'.repeat(3000))], reason: /target is longer than 4095 bytes/ },
    ];
    for (const { title, entries, reason } of refused) {
      it(`refuses ${title} with a short message, and changes nothing`, async () => {
        const before = snapshot(work);
        await assert.rejects(pull([{ name: 'first.txt', content: 'first' }, ...entries]), (error) => {
          assert.ok(isSandboxError(error, 'unsafe-archive'), String(error));
          assert.match(error.message, reason);
          assert.ok(error.message.length < 500, `a ${error.message.length}-character message`);
          return true;
        });
        assert.deepEqual(snapshot(work), before);
      });
    }
  });

  describe('a local symlink in the target', () => {
    it('is replaced by the folder or file the sandbox has there, and each replacement is reported', async () => {
      const elsewhere = path.join(folder.root, 'elsewhere');
      mkdirSync(elsewhere);
      writeTree(elsewhere, { 'theirs.txt': 'outside data' });
      writeTree(target, {
        sub: { link: elsewhere },
        config: { link: '../shared-config' },
        latest: { link: 'existing.txt' },
        untouched: { link: elsewhere },
      });

      const result = await pull([
        { name: 'sub/', type: 'directory' },
        { name: 'sub/result.txt', content: 'from the sandbox' },
        { name: 'config', content: 'a file now' },
        link('latest', 'sub/result.txt'),
      ]);

      assert.deepEqual(result.replacedLinks, [
        { path: 'config', target: '../shared-config' },
        { path: 'sub', target: elsewhere },
      ]);
      assert.ok(lstatSync(path.join(target, 'sub')).isDirectory());
      assert.equal(readFileSync(path.join(target, 'sub/result.txt'), 'utf8'), 'from the sandbox');
      assert.equal(readFileSync(path.join(target, 'config'), 'utf8'), 'a file now');
      assert.equal(linkAt('latest'), 'sub/result.txt', 'a link replaced by a link is an ordinary update');
      assert.equal(linkAt('untouched'), elsewhere);
      assert.deepEqual(readdirSync(elsewhere), ['theirs.txt'], 'nothing was written through the link');
    });
  });
});
