import * as assert from 'node:assert/strict';
import { parseLogFrames } from '../../../../src/core/providers/docker/logFrames';

/** One frame of the engine's multiplexed log: a stream byte, three zero bytes, the length, the data. */
function frame(text: string, stream = 1): Buffer {
  const data = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

describe('docker log frames', function () {
  it('splits frames into timestamped lines of their streams', async function () {
    const lines = [];
    for await (const line of parseLogFrames([
      frame('2026-01-01T00:00:00.000000001Z one\n2026-01-01T00:00:00.000000002Z tw'),
      frame('o\n'),
      frame('2026-01-01T00:00:01Z err\n', 2),
    ])) {
      lines.push(line);
    }
    assert.deepEqual(lines, [
      { time: '2026-01-01T00:00:00.000000001Z', stream: 'stdout', text: 'one' },
      { time: '2026-01-01T00:00:00.000000002Z', stream: 'stdout', text: 'two' },
      { time: '2026-01-01T00:00:01Z', stream: 'stderr', text: 'err' },
    ]);
  });

  it('holds at most 1 MiB of a line printed without end', async function () {
    const piece = 'y'.repeat(64 * 1024);
    async function* endless(): AsyncGenerator<Buffer> {
      yield frame(`2026-01-01T00:00:00Z ${piece}`);
      for (let i = 0; i < 100; i++) yield frame(piece);
      yield frame('\n2026-01-01T00:00:01Z next\n');
    }
    const lines = [];
    for await (const line of parseLogFrames(endless())) lines.push(line);
    assert.equal(lines.length, 2);
    assert.ok(lines[0]!.text.length <= 1024 * 1024, `a line of ${lines[0]!.text.length} characters`);
    assert.equal(lines[1]!.text, 'next');
  });
});
