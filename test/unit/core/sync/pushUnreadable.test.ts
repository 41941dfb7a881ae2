import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { pushTree, type Manifest, type PushResult, type SyncChannel } from '../../../../src/core/sync';
import { localChannel, temporaryFolder, writeTree } from './helpers';

/**
 * Runs a push in a child process that cannot read what its mode forbids: root reads through any
 * mode, so as root the child keeps its uid but loses the capabilities that let it.
 */
function pushWithoutOverride(options: { localRoot: string; remoteDir: string; deleteExtraneous?: boolean; previous?: Manifest }): PushResult {
  const sync = path.resolve(__dirname, '..', '..', '..', '..', 'src', 'core', 'sync', 'index.js');
  const helpers = path.resolve(__dirname, 'helpers.js');
  const script = `const options = JSON.parse(process.argv[1]);
    require(${JSON.stringify(sync)}).pushTree({ ...options, channel: require(${JSON.stringify(helpers)}).localChannel() })
      .then((result) => console.log(JSON.stringify(result)), (error) => console.log(JSON.stringify({ error: error.code + ': ' + error.message })));`;
  const command = process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search', process.execPath] : [process.execPath];
  const output = execFileSync(command[0]!, [...command.slice(1), '-e', script, JSON.stringify(options)], { encoding: 'utf8' });
  return JSON.parse(output) as PushResult;
}

describe('push: files it cannot read', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  let local: string;
  let remote: string;

  beforeEach(() => {
    folder = temporaryFolder();
    local = path.join(folder.root, 'local');
    remote = path.join(folder.root, 'sandbox', 'workspace');
  });
  afterEach(() => {
    for (const locked of ['secret.key', 'locked']) if (existsSync(path.join(local, locked))) chmodSync(path.join(local, locked), 0o700);
    folder.cleanup();
  });

  it('skips an unreadable file and an unreadable folder, names them, and sends the rest', async () => {
    writeTree(local, { 'a.txt': 'a', 'secret.key': 'no', 'locked/inside.txt': 'hidden', 'z/last.txt': 'z' });
    chmodSync(path.join(local, 'secret.key'), 0o000);
    chmodSync(path.join(local, 'locked'), 0o000);

    const result = pushWithoutOverride({ localRoot: local, remoteDir: remote });

    assert.deepEqual(result.skipped, [
      { path: 'locked', reason: 'unreadable' },
      { path: 'secret.key', reason: 'unreadable' },
    ]);
    assert.equal(result.filesSent, 2);
    assert.equal(readFileSync(path.join(remote, 'a.txt'), 'utf8'), 'a');
    assert.equal(readFileSync(path.join(remote, 'z', 'last.txt'), 'utf8'), 'z');
    assert.equal(existsSync(path.join(remote, 'secret.key')), false);
  });

  it('keeps what an earlier push sent of a file that became unreadable, even with deleteExtraneous', async () => {
    writeTree(local, { 'a.txt': 'a', 'secret.key': 'first', 'locked/inside.txt': 'first' });
    const channel = localChannel();
    const first = await pushTree({ channel, localRoot: local, remoteDir: remote });
    chmodSync(path.join(local, 'secret.key'), 0o000);
    chmodSync(path.join(local, 'locked'), 0o000);

    const second = pushWithoutOverride({ localRoot: local, remoteDir: remote, deleteExtraneous: true, previous: first.manifest });

    assert.deepEqual(second.deleted, []);
    assert.equal(readFileSync(path.join(remote, 'secret.key'), 'utf8'), 'first');
    assert.equal(readFileSync(path.join(remote, 'locked', 'inside.txt'), 'utf8'), 'first');
    // Still recorded as ours, so a push that can read them again compares against them.
    assert.ok(second.manifest.entries['secret.key'] && second.manifest.entries['locked/inside.txt']);
  });

  it('sends a file as it is when read when it grew or shrank after the walk, and skips one that vanished', async () => {
    writeTree(local, { 'grew.txt': 'short', 'shrank.txt': 'a long first version', 'vanished.txt': 'here at the walk', 'stays.txt': 's' });
    const result = await pushTree({
      channel: localChannel(),
      localRoot: local,
      remoteDir: remote,
      onProgress: (progress) => {
        if (progress.phase !== 'scan') return;
        appendFileSync(path.join(local, 'grew.txt'), ' and then longer');
        truncateSync(path.join(local, 'shrank.txt'), 7);
        rmSync(path.join(local, 'vanished.txt'));
      },
    });

    assert.equal(readFileSync(path.join(remote, 'grew.txt'), 'utf8'), 'short and then longer');
    assert.equal(readFileSync(path.join(remote, 'shrank.txt'), 'utf8'), 'a long ');
    assert.equal(readFileSync(path.join(remote, 'stays.txt'), 'utf8'), 's');
    assert.deepEqual(result.skipped, [{ path: 'vanished.txt', reason: 'vanished' }]);
    assert.equal(result.manifest.entries['grew.txt']?.size, 'short and then longer'.length);
    assert.equal(result.manifest.entries['vanished.txt'], undefined);
  });

  it('names fifos and sockets, and does not wait on a file swapped for a fifo after the walk', async function () {
    this.timeout(20_000);
    writeTree(local, { 'a.txt': 'a', 'becomes-fifo': 'a file at the walk' });
    execFileSync('mkfifo', [path.join(local, 'pipe')]);
    execFileSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path.join(local, 'sock'))})`]);

    const result = await pushTree({
      channel: localChannel(),
      localRoot: local,
      remoteDir: remote,
      onProgress: (progress) => {
        if (progress.phase !== 'scan') return;
        rmSync(path.join(local, 'becomes-fifo'));
        execFileSync('mkfifo', [path.join(local, 'becomes-fifo')]);
      },
    });

    assert.deepEqual(result.skipped, [
      { path: 'becomes-fifo', reason: 'vanished' },
      { path: 'pipe', reason: 'special' },
      { path: 'sock', reason: 'special' },
    ]);
    assert.equal(readFileSync(path.join(remote, 'a.txt'), 'utf8'), 'a');
  });

  it('keeps the archive whole when a large file shrinks while it is sent, and sends it again next time', async () => {
    const big = Buffer.alloc(6 * 1024 * 1024, 'b');
    writeTree(local, { 'big.bin': big, 'small.txt': 's' });
    // Cuts the file once the first bytes of the archive are on their way: its reading is under way.
    const inner = localChannel();
    let cut = false;
    const counted = (archive: NodeJS.ReadableStream): PassThrough => {
      const through = new PassThrough();
      let seen = 0;
      through.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (!cut && seen > 512 * 1024) {
          cut = true;
          truncateSync(path.join(local, 'big.bin'), 1000);
        }
      });
      return archive.pipe(through);
    };
    const channel: SyncChannel = {
      putArchive: (directory, archive, signal) => inner.putArchive(directory, counted(archive), signal),
      exec: (request) =>
        !request.stdin || typeof request.stdin === 'string' || Buffer.isBuffer(request.stdin)
          ? inner.exec(request)
          : inner.exec({ ...request, stdin: counted(request.stdin) }),
    };

    const first = await pushTree({ channel, localRoot: local, remoteDir: remote });

    assert.ok(cut);
    assert.deepEqual(first.skipped, [{ path: 'big.bin', reason: 'changed' }]);
    assert.equal(readFileSync(path.join(remote, 'small.txt'), 'utf8'), 's', 'the entries after it arrive');
    const second = await pushTree({ channel: localChannel(), localRoot: local, remoteDir: remote, previous: JSON.parse(JSON.stringify(first.manifest)) });
    assert.equal(second.filesSent, 1);
    assert.deepEqual(readFileSync(path.join(remote, 'big.bin')), big.subarray(0, 1000));
  });
});
