import * as assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { ExecSocketStdin } from '../../../src/app/execSocketStdin';
import { STDIN_FRAME_COST, stdinCost } from '../../../src/core/execSocket/protocol';

const WINDOW = 256 * 1024;
/** A piece whose cost is a quarter of the window. */
const PIECE = WINDOW / 4 - STDIN_FRAME_COST;

describe('the exec socket’s stdin window', function () {
  it('holds no more than its window for a command that never reads, and refuses a client past it', async function () {
    const taken: number[] = [];
    const stdin = new ExecSocketStdin(WINDOW, (bytes) => taken.push(bytes));
    for (let index = 0; index < 4; index++) assert.equal(stdin.receive(Buffer.alloc(PIECE)), true);
    await tick();
    // What moved on to the reading side was said taken, and the client may send that much again, no more.
    const room = taken.reduce((sum, bytes) => sum + bytes, 0);
    assert.ok(room > 0 && room < WINDOW, `${room} bytes taken`);
    assert.equal(stdin.receive(Buffer.alloc(room - STDIN_FRAME_COST)), true);
    assert.equal(stdin.receive(Buffer.alloc(1)), false, 'one byte past the window');
    await tick();
    assert.equal(
      taken.reduce((sum, bytes) => sum + bytes, 0),
      room,
      'nothing more taken by a command that does not read',
    );
    const held = stdin.stream.writableLength + stdin.stream.readableLength;
    assert.ok(held <= WINDOW + 2 * PIECE, `${held} bytes held`);
    stdin.destroy();
  });

  it('passes every byte in order to a slow reader while the client keeps within its window', async function () {
    let credit = WINDOW;
    const stdin = new ExecSocketStdin(WINDOW, (bytes) => (credit += bytes));
    const total = 4 * 1024 * 1024;
    const source = Buffer.alloc(total);
    for (let index = 0; index < total; index++) source[index] = index % 251;
    const read: Buffer[] = [];
    const done = new Promise<void>((resolve) => stdin.stream.once('end', resolve));
    stdin.stream.on('data', (chunk: Buffer) => {
      read.push(chunk);
      stdin.stream.pause();
      setTimeout(() => stdin.stream.resume(), 1);
    });
    let sent = 0;
    let mostHeld = 0;
    while (sent < total) {
      const size = Math.min(PIECE, credit - STDIN_FRAME_COST, total - sent);
      if (size <= 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      assert.equal(stdin.receive(source.subarray(sent, sent + size)), true);
      credit -= stdinCost(size);
      sent += size;
      mostHeld = Math.max(mostHeld, stdin.stream.writableLength + stdin.stream.readableLength);
    }
    stdin.end();
    await done;
    assert.ok(Buffer.concat(read).equals(source), 'every byte, in order');
    // The piece being handed on counts on both sides (writable and readable) though it is held once.
    const bound = WINDOW + stdin.stream.readableHighWaterMark + 2 * PIECE;
    assert.ok(mostHeld <= bound, `at most ${mostHeld} bytes held, bound ${bound}`);
  });

  it('counts a cost for every piece, so a flood of tiny or empty pieces is bounded as well', async function () {
    const stdin = new ExecSocketStdin(WINDOW, () => undefined);
    for (let index = 0; index < 100_000; index++) assert.equal(stdin.receive(Buffer.alloc(0)), true, 'an empty piece is dropped');
    let accepted = 0;
    while (stdin.receive(Buffer.alloc(1, 'a'))) accepted++;
    await tick();
    // Pieces move on to the reading side until its buffer is full, the rest fill the window at their cost.
    const bound = stdin.stream.readableHighWaterMark + Math.floor(WINDOW / stdinCost(1)) + 1;
    assert.ok(accepted <= bound, `${accepted} one-byte pieces taken, bound ${bound}`);
    assert.ok(stdin.stream.writableLength <= accepted, 'only real bytes are held');
    stdin.destroy();
  });

  it('drops what comes after the command is done with stdin', function () {
    const stdin = new ExecSocketStdin(WINDOW, () => undefined);
    stdin.destroy();
    assert.equal(stdin.receive(Buffer.alloc(WINDOW * 2)), true);
    stdin.end();
  });
});
