import * as assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pushTree, type Manifest, type PushOptions, type SyncChannel } from '../../../../src/core/sync';
import { contentListing, localChannel, temporaryFolder, writeTree } from './helpers';

const stored = (manifest: Manifest): Manifest => JSON.parse(JSON.stringify(manifest)) as Manifest;

/** The local channel with programs of `bin` first on the PATH of the push's exec: a sandbox whose `find` lies. */
function withPrograms(bin: string): SyncChannel {
  const inner = localChannel();
  return {
    putArchive: inner.putArchive.bind(inner),
    exec: (request) =>
      inner.exec(
        Array.isArray(request.command) && request.command[3] === 'sandbox-push'
          ? { ...request, command: ['env', `PATH=${bin}:${process.env.PATH}`, ...request.command] }
          : request,
      ),
  };
}

describe('push: against what the sandbox holds', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  let local: string;
  let remote: string;

  beforeEach(() => {
    folder = temporaryFolder();
    local = path.join(folder.root, 'local');
    remote = path.join(folder.root, 'sandbox', 'workspace');
  });
  afterEach(() => folder.cleanup());

  const push = (options: Partial<PushOptions> = {}) => pushTree({ channel: localChannel(), localRoot: local, remoteDir: remote, ...options });

  it('restores what the sandbox deleted or changed since the last push, and names what it overwrote', async () => {
    writeTree(local, {
      'deleted.txt': 'd',
      'edited.txt': 'original',
      'chmodded.sh': { mode: 0o755, content: '#!/bin/sh\n' },
      'dir/kept.txt': 'k',
      'gone-dir/a.txt': 'a',
      relinked: { link: 'edited.txt' },
      'became-dir': 'a file',
      'same.txt': 'untouched',
    });
    const first = await push();
    rmSync(path.join(remote, 'deleted.txt'));
    writeFileSync(path.join(remote, 'edited.txt'), 'the agent was here');
    chmodSync(path.join(remote, 'chmodded.sh'), 0o644);
    chmodSync(path.join(remote, 'dir'), 0o700);
    rmSync(path.join(remote, 'gone-dir'), { recursive: true });
    rmSync(path.join(remote, 'relinked'));
    symlinkSync('/etc/passwd', path.join(remote, 'relinked'));
    rmSync(path.join(remote, 'became-dir'));
    mkdirSync(path.join(remote, 'became-dir', 'sub'), { recursive: true });
    writeFileSync(path.join(remote, 'became-dir', 'sub', 'work.txt'), 'agent work');
    writeFileSync(path.join(remote, 'agent-made.txt'), 'never touched');

    const second = await push({ previous: stored(first.manifest) });

    assert.deepEqual(second.overwrittenInSandbox, ['became-dir', 'chmodded.sh', 'edited.txt', 'relinked']);
    assert.equal(second.filesSent, 5, 'deleted, edited, chmodded, gone-dir/a.txt, became-dir');
    assert.equal(second.unchanged, 2);
    const expected = contentListing(local);
    const actual = contentListing(remote);
    delete actual['agent-made.txt'];
    assert.deepEqual(actual, expected);
    assert.equal(readFileSync(path.join(remote, 'agent-made.txt'), 'utf8'), 'never touched');

    // Matched now: nothing more to send, nothing said.
    const third = await push({ previous: stored(second.manifest) });
    assert.equal(third.filesSent, 0);
    assert.deepEqual(third.overwrittenInSandbox, []);
  });

  it('names a file the sandbox changed and --delete removes', async () => {
    writeTree(local, { 'a.txt': 'a', 'old.txt': 'old', 'untouched.txt': 'u' });
    const first = await push();
    writeFileSync(path.join(remote, 'old.txt'), 'edited in the sandbox');
    rmSync(path.join(local, 'old.txt'));
    rmSync(path.join(local, 'untouched.txt'));

    const second = await push({ previous: stored(first.manifest), deleteExtraneous: true });

    assert.deepEqual(second.deleted, ['old.txt', 'untouched.txt']);
    assert.deepEqual(second.overwrittenInSandbox, ['old.txt']);
    assert.deepEqual(Object.keys(contentListing(remote)), ['a.txt']);
  });

  it('forgets what the sandbox removed itself: a later --delete has nothing to do', async () => {
    writeTree(local, { 'a.txt': 'a', 'b.txt': 'b' });
    const channel = localChannel();
    const first = await pushTree({ channel, localRoot: local, remoteDir: remote });
    rmSync(path.join(local, 'b.txt'));
    rmSync(path.join(remote, 'b.txt'));

    const second = await pushTree({ channel, localRoot: local, remoteDir: remote, previous: stored(first.manifest), deleteExtraneous: true });

    assert.deepEqual(second.deleted, []);
    assert.equal(second.manifest.entries['b.txt'], undefined);
    assert.equal(channel.log.execs.filter((argv) => argv[0] === 'rm').length, 0);
  });

  it('trusts the last manifest where the sandbox has no find that can list', async () => {
    const bin = path.join(folder.root, 'bin');
    writeTree(bin, { find: { mode: 0o755, content: '#!/bin/sh\necho "find: unknown predicate -printf" >&2\nexit 1\n' } });
    writeTree(local, { 'a.txt': 'a', 'b.txt': 'b' });
    const channel = withPrograms(bin);
    const first = await pushTree({ channel, localRoot: local, remoteDir: remote });
    rmSync(path.join(remote, 'a.txt'));
    writeFileSync(path.join(local, 'b.txt'), 'changed here');

    const second = await pushTree({ channel, localRoot: local, remoteDir: remote, previous: stored(first.manifest) });

    assert.equal(second.filesSent, 1);
    assert.equal(readFileSync(path.join(remote, 'b.txt'), 'utf8'), 'changed here');
    assert.equal(existsSync(path.join(remote, 'a.txt')), false, 'unseen without a listing, as before');
  });

  it('takes a hostile listing for what it is: paths it did not ask for are ignored, a flood is no listing', async () => {
    writeTree(local, { 'a.txt': 'a', 'dir/b.txt': 'b', 'c.txt': 'c' });
    const outside = path.join(folder.root, 'outside.txt');
    writeFileSync(outside, 'must stay');
    const first = await push();

    // Says it holds paths outside the folder and strange types, and nothing of ours.
    const liar = path.join(folder.root, 'liar');
    const records = ['d 4096 0 755 ./', 'd 0 0 755 ./../outside.txt', 'f 1 0 644 ./../../etc/passwd', 'f 1 0 644 /etc/passwd', 'garbage', 'x 9 9 999 ./a.txt']
      .map((record) => `${record}\\0\\0`)
      .join('');
    writeTree(liar, { find: { mode: 0o755, content: `#!/bin/sh\nprintf '${records}'\n` } });
    rmSync(path.join(local, 'a.txt'));
    const lied = await pushTree({ channel: withPrograms(liar), localRoot: local, remoteDir: remote, previous: stored(first.manifest), deleteExtraneous: true });
    assert.equal(readFileSync(outside, 'utf8'), 'must stay');
    assert.ok(existsSync('/etc/passwd'));
    assert.deepEqual(lied.deleted, [], 'a path the sandbox does not hold is not removed');
    assert.equal(readFileSync(path.join(remote, 'dir', 'b.txt'), 'utf8'), 'b', 'what it hid is sent again');

    // Far more than a listing of these paths can take: dropped, and the manifest stands in.
    const flood = path.join(folder.root, 'flood');
    writeTree(flood, { find: { mode: 0o755, content: '#!/bin/sh\nhead -c 3000000 /dev/zero | tr "\\\\0" x\nprintf "\\\\0\\\\0"\n' } });
    writeFileSync(path.join(local, 'dir', 'b.txt'), 'changed');
    const flooded = await pushTree({ channel: withPrograms(flood), localRoot: local, remoteDir: remote, previous: stored(lied.manifest) });
    assert.equal(flooded.filesSent, 1, 'only what changed locally: c.txt is not taken as missing');
    assert.equal(readFileSync(path.join(remote, 'dir', 'b.txt'), 'utf8'), 'changed');
  });

  it('replaces a folder the sandbox made a link, without writing through the link', async () => {
    writeTree(local, { 'dir/a.txt': 'a' });
    const first = await push();
    const elsewhere = path.join(folder.root, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(path.join(remote, 'dir'), { recursive: true });
    symlinkSync(elsewhere, path.join(remote, 'dir'));

    const second = await push({ previous: stored(first.manifest) });

    assert.equal(lstatSync(path.join(remote, 'dir')).isDirectory(), true);
    assert.equal(readFileSync(path.join(remote, 'dir', 'a.txt'), 'utf8'), 'a');
    assert.equal(existsSync(path.join(elsewhere, 'a.txt')), false);
    assert.deepEqual(second.overwrittenInSandbox, ['dir']);
  });
});
