import * as assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { usableExecSocket } from '../../../../src/cli/execClient';
import {
  FRAME,
  FrameReader,
  encodeFrame,
  encodeJsonFrame,
  execCallOf,
  execSocketDir,
  execSocketPath,
  parseHello,
} from '../../../../src/core/execSocket/protocol';

describe('exec socket frames', function () {
  it('reads frames back whole, however the bytes are cut', function () {
    const frames = Buffer.concat([
      encodeJsonFrame(FRAME.hello, { protocol: 1, argv: ['exec', 'box', '--', 'true'] }),
      encodeFrame(FRAME.stdin, Buffer.from([0, 1, 2, 255])),
      encodeFrame(FRAME.stdinEnd),
    ]);
    for (const size of [1, 2, 5, 7, frames.length]) {
      const reader = new FrameReader();
      const read = [];
      for (let offset = 0; offset < frames.length; offset += size) read.push(...reader.push(frames.subarray(offset, offset + size)));
      assert.deepEqual(
        read.map((frame) => frame.type),
        [FRAME.hello, FRAME.stdin, FRAME.stdinEnd],
        `cut every ${size} bytes`,
      );
      assert.deepEqual(JSON.parse(read[0]!.payload.toString()), { protocol: 1, argv: ['exec', 'box', '--', 'true'] });
      assert.deepEqual([...read[1]!.payload], [0, 1, 2, 255]);
      assert.equal(read[2]!.payload.length, 0);
    }
  });

  it('refuses a length past the limit before buffering it, and a length of zero', function () {
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(2 ** 32 - 1, 0);
    assert.throws(() => new FrameReader().push(huge), /past the limit/);
    assert.throws(() => new FrameReader(10).push(encodeFrame(FRAME.stdout, Buffer.alloc(11))), /past the limit/);
    assert.equal(new FrameReader(10).push(encodeFrame(FRAME.stdout, Buffer.alloc(10))).length, 1);
    assert.throws(() => new FrameReader().push(Buffer.alloc(4)), /past the limit/);
  });

  it('takes a hello of a protocol number and strings only', function () {
    assert.deepEqual(parseHello(Buffer.from('{"protocol":1,"argv":["exec"]}')), { protocol: 1, argv: ['exec'] });
    for (const bad of ['', 'nul', '[]', '{"protocol":"1","argv":[]}', '{"protocol":1,"argv":[1]}', '{"protocol":1}', 'null']) {
      assert.equal(parseHello(Buffer.from(bad)), undefined, bad);
    }
  });

  it('claims `exec` calls with --json before `--` anywhere, but not their help', function () {
    assert.deepEqual(execCallOf(['exec', 'box', '--', 'true']), { json: false, args: ['box', '--', 'true'] });
    assert.deepEqual(execCallOf(['--json', 'exec', 'box', '--', 'echo', '--json']), { json: true, args: ['box', '--', 'echo', '--json'] });
    assert.deepEqual(execCallOf(['exec', 'box', '--json', '--', 'true']), { json: true, args: ['box', '--', 'true'] });
    assert.equal(execCallOf(['exec', '--help']), undefined);
    assert.equal(execCallOf(['exec', 'box', '-h', '--', 'true']), undefined);
    assert.deepEqual(execCallOf(['exec', 'box', '--', 'ls', '-h']), { json: false, args: ['box', '--', 'ls', '-h'] });
    assert.equal(execCallOf(['list']), undefined);
    assert.equal(execCallOf([]), undefined);
  });

  it('puts one socket in each state dir', function () {
    assert.equal(execSocketPath('/a/state'), path.join('/a/state', 'run', 'exec.sock'));
    assert.notEqual(execSocketPath('/a/state'), execSocketPath('/b/state'));
  });
});

describe('which exec socket the client uses', function () {
  let root: string;
  let server: net.Server;
  beforeEach(async function () {
    root = mkdtempSync(path.join(os.tmpdir(), 'exec-socket-'));
    mkdirSync(execSocketDir(root), { mode: 0o700 });
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen(execSocketPath(root), resolve));
    chmodSync(execSocketPath(root), 0o600);
  });
  afterEach(async function () {
    await new Promise((resolve) => server.close(resolve));
    rmSync(root, { recursive: true, force: true });
  });

  it('uses a 0600 socket of its own user in a 0700 folder', function () {
    assert.equal(usableExecSocket(root), execSocketPath(root));
  });

  it('leaves a socket of another mode, in a folder of another mode, or of another user', function () {
    chmodSync(execSocketPath(root), 0o660);
    assert.equal(usableExecSocket(root), undefined);
    chmodSync(execSocketPath(root), 0o600);
    chmodSync(execSocketDir(root), 0o755);
    assert.equal(usableExecSocket(root), undefined);
    chmodSync(execSocketDir(root), 0o700);
    assert.equal(usableExecSocket(root, process.getuid!() + 1), undefined);
  });

  it('leaves a plain file, and no file at all', function () {
    const other = mkdtempSync(path.join(os.tmpdir(), 'exec-socket-'));
    try {
      assert.equal(usableExecSocket(other), undefined);
      mkdirSync(execSocketDir(other), { mode: 0o700 });
      writeFileSync(execSocketPath(other), '', { mode: 0o600 });
      assert.equal(usableExecSocket(other), undefined);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
