import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { isSandboxError } from '../../../../src/core/errors';
import { pullTree, pushTree, type PullOptions } from '../../../../src/core/sync';
import { contentListing, craftArchive, hostileChannel, localChannel, snapshot, temporaryFolder, writeTree, type CraftedEntry } from './helpers';
import { assertLinksStayInside, isLink } from './linkChecks';

const REMOTE_DIR = '/home/agent/workspace';

/** The entries of a snapshot that are not under `folder`. */
function outsideOf(folder: string, entries: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).filter(([key]) => key !== folder && !key.startsWith(`${folder}/`)));
}

describe('pullTree', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  /** Holds the target and its neighbours: a snapshot of it shows escapes and leftover staging. */
  let work: string;
  let target: string;

  beforeEach(() => {
    folder = temporaryFolder();
    work = path.join(folder.root, 'work');
    target = path.join(work, 'target');
    writeTree(work, {
      'target/existing.txt': 'local content',
      'target/scripts/build.sh': { mode: 0o755, content: '#!/bin/sh\n' },
      'target/empty': null,
      'neighbour.txt': 'next to the target',
    });
  });
  afterEach(() => folder.cleanup());

  const pull = (options: Partial<PullOptions> & Pick<PullOptions, 'channel'>) => pullTree({ remoteDir: REMOTE_DIR, localRoot: target, ...options });

  describe('from a well-behaved sandbox', () => {
    it('round-trips content, modes, symlinks inside the tree, empty folders and mtimes', async () => {
      const source = path.join(folder.root, 'source');
      const remote = path.join(folder.root, 'sandbox');
      writeTree(source, {
        'readme.md': '# hi\n',
        'bin/tool': { mode: 0o750, content: 'binary' },
        'conf/secret': { mode: 0o600, content: 'secret' },
        'empty/nested': null,
        latest: { link: 'bin/tool' },
        'conf/up': { link: '../readme.md' },
        '.git/HEAD': 'ref: refs/heads/main\n',
      });
      const channel = localChannel();
      await pushTree({ channel, localRoot: source, remoteDir: remote });
      const fresh = path.join(work, 'fresh');

      const result = await pullTree({ channel, remoteDir: remote, localRoot: fresh });

      assert.deepEqual(contentListing(fresh), contentListing(source));
      assert.equal(result.files, 6, 'four files and two symlinks');
      assert.equal(result.bytes, '# hi\n'.length + 'binary'.length + 'secret'.length + 'ref: refs/heads/main\n'.length);
      const seconds = (file: string) => Math.floor(lstatSync(file).mtimeMs / 1000);
      assert.equal(seconds(path.join(fresh, 'conf/secret')), seconds(path.join(source, 'conf/secret')));
      assert.equal(seconds(path.join(fresh, 'empty/nested')), seconds(path.join(source, 'empty/nested')));
    });

    it('merges into an existing tree: replaces what the archive has, keeps the rest, follows no local link', async () => {
      const outside = path.join(folder.root, 'outside');
      mkdirSync(outside);
      writeTree(target, { data: { link: outside } });
      const archive = await craftArchive([
        { name: './', type: 'directory' },
        { name: './existing.txt', content: 'from the sandbox' },
        { name: './data/', type: 'directory' },
        { name: './data/result.csv', content: 'a,b\n' },
      ]);

      const result = await pull({ channel: hostileChannel(archive) });

      assert.deepEqual(result.replacedLinks, [{ path: 'data', target: outside }], 'the replaced link is reported');
      assert.equal(readFileSync(path.join(target, 'existing.txt'), 'utf8'), 'from the sandbox');
      assert.equal(readFileSync(path.join(target, 'scripts/build.sh'), 'utf8'), '#!/bin/sh\n');
      assert.equal(lstatSync(path.join(target, 'data')).isDirectory(), true);
      assert.equal(readFileSync(path.join(target, 'data/result.csv'), 'utf8'), 'a,b\n');
      assert.deepEqual(readdirSync(outside), []);
    });

    it('skips excluded paths and keeps hard links within the archive', async () => {
      const archive = await craftArchive([
        { name: './node_modules/dep/index.js', content: 'x' },
        { name: './dist/app.js', content: 'x' },
        { name: './report.txt', content: 'report' },
        { name: './copy.txt', type: 'link', linkname: './report.txt' },
      ]);

      const result = await pull({ channel: hostileChannel(archive), excludes: ['dist/'] });

      assert.equal(existsSync(path.join(target, 'node_modules')), false);
      assert.equal(existsSync(path.join(target, 'dist')), false);
      assert.equal(lstatSync(path.join(target, 'copy.txt')).ino, lstatSync(path.join(target, 'report.txt')).ino);
      assert.equal(result.files, 2);
    });

    it('reads an absolute link against the sandbox folder, not the local one', async () => {
      const archive = await craftArchive([
        { name: 'out/a', content: 'a' },
        { name: 'out/b', type: 'symlink', linkname: `${REMOTE_DIR}/out/a` },
        // The local target's own path means nothing in the sandbox: there it leads outside.
        { name: 'alias', type: 'symlink', linkname: path.join(target, 'existing.txt') },
      ]);
      const result = await pull({ channel: hostileChannel(archive) });
      assert.equal(readlinkSync(path.join(target, 'out/b')), 'a');
      assert.equal(readFileSync(path.join(target, 'out/b'), 'utf8'), 'a');
      assert.equal(existsSync(path.join(target, 'alias')), false);
      assert.deepEqual(result.skippedLinks, [{ path: 'alias', target: path.join(target, 'existing.txt'), reason: `points outside ${REMOTE_DIR}` }]);
      assert.equal(result.files, 2);
    });

    it('drops the sticky and setgid bits of folders', async () => {
      const archive = await craftArchive([{ name: 'shared/', type: 'directory', mode: 0o3775 }]);
      await pull({ channel: hostileChannel(archive) });
      assert.equal(lstatSync(path.join(target, 'shared')).mode & 0o7777, 0o775);
    });
  });

  describe('from a hostile sandbox', () => {
    const marker = randomBytes(6).toString('hex');
    const etcFile = `/etc/sandbox-sync-test-${marker}`;
    /** Legitimate entries first: a refusal must undo them too. */
    const preamble: CraftedEntry[] = [
      { name: './', type: 'directory' },
      { name: './existing.txt', content: 'overwritten?' },
      { name: './brand-new.txt', content: 'new' },
    ];

    const cases: Array<{ title: string; entries: () => CraftedEntry[]; reason: RegExp; outside?: () => string }> = [
      {
        title: 'a ../ path',
        entries: () => [{ name: `../escape-${marker}`, content: 'x' }],
        reason: /'\.\.' component/,
        outside: () => path.join(work, `escape-${marker}`),
      },
      { title: 'a ../ path in the middle', entries: () => [{ name: `./a/../../escape-${marker}`, content: 'x' }], reason: /'\.\.' component/ },
      {
        title: 'a long (pax) name with ../',
        entries: () => [{ name: `${'deep/'.repeat(30)}${'../'.repeat(32)}escape-${marker}`, content: 'x' }],
        reason: /'\.\.' component/,
      },
      { title: 'an absolute path', entries: () => [{ name: etcFile, content: 'x' }], reason: /absolute path/, outside: () => etcFile },
      {
        title: 'a file written through a symlinked folder',
        entries: () => [
          { name: 'real/', type: 'directory' },
          { name: 'alias', type: 'symlink', linkname: 'real' },
          { name: 'alias/planted.txt', content: 'x' },
        ],
        reason: /goes through the symlink "alias"/,
      },
      {
        title: 'a file written through a symlink to /etc',
        entries: () => [
          { name: 'etc', type: 'symlink', linkname: '/etc' },
          { name: `etc/sandbox-sync-test-${marker}`, content: 'x' },
        ],
        reason: /goes through the symlink "etc"/,
        outside: () => etcFile,
      },
      {
        title: 'a hard link to /etc/passwd',
        entries: () => [{ name: 'passwd', type: 'link', linkname: '/etc/passwd' }],
        reason: /hard link to "\/etc\/passwd", outside the folder/,
      },
      {
        title: 'a hard link to ../outside',
        entries: () => [{ name: 'near', type: 'link', linkname: '../neighbour.txt' }],
        reason: /hard link to "\.\.\/neighbour\.txt", outside the folder/,
      },
      {
        title: 'a hard link to a file of the local tree',
        entries: () => [{ name: 'copy', type: 'link', linkname: 'scripts/build.sh' }],
        reason: /not a regular file earlier in the archive/,
      },
      { title: 'a character device', entries: () => [{ name: 'null', type: 'character-device', mode: 0o666 }], reason: /character device/ },
      { title: 'a block device', entries: () => [{ name: 'disk', type: 'block-device', mode: 0o660 }], reason: /block device/ },
      { title: 'a fifo', entries: () => [{ name: 'pipe', type: 'fifo' }], reason: /is a fifo/ },
      { title: 'a setuid file', entries: () => [{ name: 'su', content: 'x', mode: 0o4755 }], reason: /setuid or setgid/ },
      { title: 'a setgid file', entries: () => [{ name: 'sg', content: 'x', mode: 0o2755 }], reason: /setuid or setgid/ },
      { title: 'an entry that replaces the target itself', entries: () => [{ name: '.', type: 'symlink', linkname: '/etc' }], reason: /target folder itself/ },
      {
        title: 'the same path twice',
        entries: () => [
          { name: 'twice', content: 'a' },
          { name: 'twice', type: 'symlink', linkname: 'existing.txt' },
        ],
        reason: /more than once/,
      },
    ];

    for (const { title, entries, reason, outside } of cases) {
      it(`refuses ${title} and leaves everything as it was`, async () => {
        const before = snapshot(work);
        const archive = await craftArchive([...preamble, ...entries()]);

        await assert.rejects(pull({ channel: hostileChannel(archive) }), (error) => {
          assert.ok(isSandboxError(error, 'unsafe-archive'), String(error));
          assert.match(error.message, reason);
          return true;
        });

        assert.deepEqual(snapshot(work), before);
        if (outside) assert.equal(existsSync(outside()), false);
      });
    }

    /** Links that lead outside: left out and listed, while the rest of the pull goes on. */
    const skippedCases: Array<{ title: string; entries: () => CraftedEntry[]; link: string; reason: RegExp }> = [
      {
        title: 'a symlink to /etc',
        entries: () => [{ name: 'etc', type: 'symlink', linkname: '/etc' }],
        link: 'etc',
        reason: /^points outside \/home\/agent\/workspace$/,
      },
      {
        title: 'a symlink to ../../x',
        entries: () => [{ name: 'up', type: 'symlink', linkname: '../../x' }],
        link: 'up',
        reason: /^leads outside \/home\/agent\/workspace$/,
      },
      {
        title: 'a deep symlink climbing one level too many',
        entries: () => [{ name: 'a/b/up', type: 'symlink', linkname: '../../../x' }],
        link: 'a/b/up',
        reason: /^leads outside/,
      },
      {
        title: 'a symlink climbing out through another link',
        entries: () => [
          { name: 'p/q/root', type: 'symlink', linkname: '../..' },
          { name: 'escape', type: 'symlink', linkname: 'p/q/root/..' },
        ],
        link: 'escape',
        reason: /^leads outside \/home\/agent\/workspace$/,
      },
    ];

    for (const { title, entries, link, reason } of skippedCases) {
      it(`skips ${title}, lists it, and writes no link that leaves the target`, async () => {
        const before = snapshot(work);
        const archive = await craftArchive([...preamble, ...entries()]);

        const result = await pull({ channel: hostileChannel(archive) });

        assert.deepEqual(
          result.skippedLinks.map((skipped) => skipped.path),
          [link],
        );
        assert.match(result.skippedLinks[0]!.reason, reason);
        assert.equal(existsSync(path.join(target, link)) || isLink(path.join(target, link)), false);
        assertLinksStayInside(target);
        assert.equal(readFileSync(path.join(target, 'brand-new.txt'), 'utf8'), 'new');
        assert.deepEqual(outsideOf('target', snapshot(work)), outsideOf('target', before));
      });
    }

    it('refuses an archive over the size limit, counting the bytes that stream in', async () => {
      const before = snapshot(work);
      const archive = await craftArchive([...preamble, { name: 'big.bin', content: Buffer.alloc(64 * 1024) }]);

      await assert.rejects(
        pull({ channel: hostileChannel(archive), maxBytes: 32 * 1024 }),
        (error) => isSandboxError(error, 'unsafe-archive') && /larger than the limit of 32768 bytes/.test(error.message),
      );
      assert.deepEqual(snapshot(work), before);
    });

    it('stops the remote tar as soon as it refuses, without waiting for the stream to end', async () => {
      const before = snapshot(work);
      const archive = await craftArchive([...preamble, { name: 'dev', type: 'character-device' }]);
      // `hang`: this sandbox never finishes on its own; only an abort from our side ends it.
      await assert.rejects(pull({ channel: hostileChannel(archive, { hang: true }) }), (error) => isSandboxError(error, 'unsafe-archive'));
      const endless = await craftArchive([{ name: 'big.bin', content: Buffer.alloc(256 * 1024) }]);
      await assert.rejects(
        pull({ channel: hostileChannel(endless, { hang: true }), maxBytes: 100 * 1024 }),
        (error) => isSandboxError(error, 'unsafe-archive') && /larger than the limit/.test(error.message),
      );
      assert.deepEqual(snapshot(work), before);
    });

    it('refuses a stream that is not a tar archive', async () => {
      const before = snapshot(work);
      await assert.rejects(
        pull({ channel: hostileChannel(randomBytes(4096)) }),
        (error) => isSandboxError(error, 'unsafe-archive') && /not a valid tar archive/.test(error.message),
      );
      assert.deepEqual(snapshot(work), before);
    });

    it('refuses to replace a local folder with content by a file, before changing anything', async () => {
      const before = snapshot(work);
      const archive = await craftArchive([...preamble, { name: 'scripts', content: 'a file now' }]);
      await assert.rejects(pull({ channel: hostileChannel(archive) }), (error) => isSandboxError(error, 'conflict'));
      assert.deepEqual(snapshot(work), before);
    });
  });

  describe('when the remote tar fails or the pull is cancelled', () => {
    it('leaves the tree unchanged when the remote tar exits non-zero, even after a valid archive', async () => {
      const before = snapshot(work);
      const archive = await craftArchive([{ name: './existing.txt', content: 'partial' }]);
      const channel = hostileChannel(archive, { exitCode: 2, stderr: 'tar: ./big: file changed as we read it\ntar: Exiting with failure status\n' });

      await assert.rejects(pull({ channel }), (error) => {
        assert.ok(isSandboxError(error, 'provider-error'), String(error));
        assert.match(error.message, /\(exit code 2\): tar: \.\/big: file changed as we read it$/);
        return true;
      });
      assert.deepEqual(snapshot(work), before);
    });

    it('reports a missing sandbox folder with the real tar, and creates no local folder', async () => {
      const before = snapshot(work);
      await assert.rejects(
        pullTree({ channel: localChannel(), remoteDir: path.join(folder.root, 'missing'), localRoot: path.join(work, 'new') }),
        (error) => isSandboxError(error, 'not-found') && /does not exist in the sandbox/.test(error.message),
      );
      assert.deepEqual(snapshot(work), before);
    });

    it('stops on abort and leaves the tree unchanged', async () => {
      const before = snapshot(work);
      const archive = await craftArchive([...Array.from({ length: 20 }, (_, index) => ({ name: `f${index}`, content: 'x'.repeat(9000) }))]);
      const controller = new AbortController();

      const pulling = pull({
        channel: hostileChannel(archive, { hang: true }),
        signal: controller.signal,
        onProgress: (progress) => progress.files === 3 && controller.abort(),
      });

      await assert.rejects(pulling, (error) => isSandboxError(error, 'cancelled'));
      assert.deepEqual(snapshot(work), before);
    });

    it('refuses a target that is a file, and a target whose parent is missing', async () => {
      await assert.rejects(
        pull({ channel: hostileChannel(Buffer.alloc(0)), localRoot: path.join(work, 'neighbour.txt') }),
        (error) => isSandboxError(error, 'invalid-input') && /not a folder/.test(error.message),
      );
      await assert.rejects(
        pull({ channel: hostileChannel(Buffer.alloc(0)), localRoot: path.join(work, 'no', 'such') }),
        (error) => isSandboxError(error, 'invalid-input') && /does not exist/.test(error.message),
      );
    });
  });

  it('creates a missing target only on success', async () => {
    const fresh = path.join(work, 'fresh');
    const archive = await craftArchive([
      { name: './a.txt', content: 'a' },
      { name: './link', type: 'symlink', linkname: 'a.txt' },
    ]);
    await pull({ channel: hostileChannel(archive), localRoot: fresh });
    assert.equal(readFileSync(path.join(fresh, 'a.txt'), 'utf8'), 'a');
    assert.equal(readlinkSync(path.join(fresh, 'link')), 'a.txt');
  });
});
