import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { isSandboxError } from '../../../../src/core/errors';
import type { ExecRequest } from '../../../../src/core/model';
import { pullTree, type SyncChannel } from '../../../../src/core/sync';
import { ARCHIVE_WINDOW_BYTES } from '../../../../src/core/sync/remoteArchive';
import { craftArchive, hostileChannel, localChannel, snapshot, temporaryFolder, writeTree } from './helpers';

const MIB = 1024 * 1024;

describe('pullTree streaming', function () {
  this.timeout(60_000);
  let folder: ReturnType<typeof temporaryFolder>;
  let work: string;
  let target: string;
  let sandbox: string;

  beforeEach(() => {
    folder = temporaryFolder();
    work = path.join(folder.root, 'work');
    target = path.join(work, 'target');
    sandbox = path.join(folder.root, 'sandbox');
    writeTree(work, { 'target/existing.txt': 'local content' });
  });
  afterEach(() => folder.cleanup());

  /** The real script with the real tar and dd, counting what the "sandbox" sent and what was asked of it. */
  function countingChannel(): SyncChannel & { sent: () => number; requests: () => string } {
    const inner = localChannel();
    let sent = 0;
    let requests = '';
    return {
      ...inner,
      sent: () => sent,
      requests: () => requests,
      exec(request: ExecRequest) {
        if (request.stdin && typeof request.stdin !== 'string' && !Buffer.isBuffer(request.stdin)) {
          request.stdin.on('data', (chunk: Buffer) => (requests += chunk.toString()));
        }
        return inner.exec({ ...request, onStdout: (chunk) => ((sent += chunk.length), request.onStdout?.(chunk)) });
      },
    };
  }

  it('asks the sandbox for the archive a window at a time, and never lets more than a window wait', async () => {
    const files = 40;
    writeTree(sandbox, Object.fromEntries(Array.from({ length: files }, (_, index) => [`f${index}.bin`, randomBytes(MIB)])));
    const channel = countingChannel();
    let widestGap = 0;

    const result = await pullTree({
      channel,
      remoteDir: sandbox,
      localRoot: target,
      onProgress: (progress) => {
        widestGap = Math.max(widestGap, channel.sent() - progress.bytes);
        // A slow disk: the sandbox must wait for us rather than pile up here.
        const until = Date.now() + 5;
        while (Date.now() < until);
      },
    });

    assert.equal(result.files, files);
    assert.deepEqual(readFileSync(path.join(target, 'f7.bin')), readFileSync(path.join(sandbox, 'f7.bin')));
    assert.ok(widestGap <= ARCHIVE_WINDOW_BYTES + MIB, `${widestGap} bytes arrived ahead of the disk`);
    assert.match(channel.requests(), /^([1-9][0-9]*\n)+$/, 'one number of blocks per line');
  });

  it('ends cleanly when the archive fills its last request exactly', async () => {
    // tar pads to 10 KiB records; 20 MiB is a whole number of them and of the requests.
    const headers = 512 /* ./ */ + 512 /* the file */ + 1024; /* end of archive */
    writeTree(sandbox, { 'exact.bin': randomBytes(20 * MIB - headers) });
    const channel = countingChannel();

    await pullTree({ channel, remoteDir: sandbox, localRoot: target });

    assert.equal(channel.sent(), 20 * MIB);
    assert.deepEqual(readFileSync(path.join(target, 'exact.bin')), readFileSync(path.join(sandbox, 'exact.bin')));
  });

  it('pulls an empty folder', async () => {
    writeTree(sandbox, { empty: null });
    const result = await pullTree({ channel: localChannel(), remoteDir: path.join(sandbox, 'empty'), localRoot: target });
    assert.equal(result.files, 0);
  });

  it('refuses a sandbox that sends more than it was asked for, before it is read', async () => {
    const before = snapshot(work);
    // A valid archive, well under the size cap, sent all at once whatever was asked.
    const flood = await craftArchive([{ name: 'big.bin', content: Buffer.alloc(3 * ARCHIVE_WINDOW_BYTES) }]);

    await assert.rejects(pullTree({ channel: hostileChannel(flood), remoteDir: '/home/agent/workspace', localRoot: target }), (error) => {
      assert.ok(isSandboxError(error, 'unsafe-archive'), String(error));
      assert.match(error.message, /sent more data than was asked for/);
      return true;
    });
    assert.deepEqual(snapshot(work), before);
  });

  it('keeps the size cap while streaming and leaves the tree as it was', async () => {
    writeTree(sandbox, { 'a.bin': randomBytes(6 * MIB), 'b.bin': randomBytes(6 * MIB) });
    const before = snapshot(work);
    await assert.rejects(
      pullTree({ channel: localChannel(), remoteDir: sandbox, localRoot: target, maxBytes: 9 * MIB }),
      (error) => isSandboxError(error, 'unsafe-archive') && /larger than the limit/.test(error.message),
    );
    assert.deepEqual(snapshot(work), before);
  });

  it('stops mid-stream on abort, removes what it staged and leaves the tree as it was', async () => {
    writeTree(sandbox, Object.fromEntries(Array.from({ length: 30 }, (_, index) => [`f${index}.bin`, randomBytes(MIB)])));
    writeFileSync(path.join(target, 'f3.bin'), 'local version');
    const before = snapshot(work);
    const controller = new AbortController();

    await assert.rejects(
      pullTree({
        channel: localChannel(),
        remoteDir: sandbox,
        localRoot: target,
        signal: controller.signal,
        onProgress: (progress) => progress.bytes >= 10 * MIB && controller.abort(),
      }),
      (error) => isSandboxError(error, 'cancelled'),
    );
    assert.deepEqual(snapshot(work), before, 'no staging folder left, nothing replaced');
  });
});
