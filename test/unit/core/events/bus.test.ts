import * as assert from 'node:assert/strict';
import { EventBus } from '../../../../src/core/events/bus';
import type { BusEvent, EventInput } from '../../../../src/core/events/types';

const started: EventInput = { type: 'sandbox.started', sandboxId: 's1', name: 'box' };
const ended: EventInput = {
  type: 'exec.ended',
  sandboxId: 's1',
  execId: 'e1',
  command: 'true',
  channel: 'agent',
  user: 'agent',
  cwd: '/home/agent/workspace',
  exitCode: 0,
  durationMs: 5,
  timedOut: false,
  cancelled: false,
};

describe('event bus', () => {
  it('hands each subscriber the events of its type, typed, and every event to those of all types', async () => {
    const bus = new EventBus();
    const exitCodes: (number | null)[] = [];
    const all: BusEvent[] = [];
    bus.on('exec.ended', (event) => void exitCodes.push(event.exitCode));
    bus.onAny((event) => void all.push(event));

    const emitted = await bus.emit(started);
    await bus.emit(ended);
    assert.deepEqual(exitCodes, [0]);
    assert.deepEqual(
      all.map((event) => event.type),
      ['sandbox.started', 'exec.ended'],
    );
    assert.equal(all[0], emitted);
    assert.ok(!Number.isNaN(Date.parse(emitted.time)), 'the bus stamps the time');
    const given = await bus.emit({ ...started, time: '2024-01-01T00:00:00.000Z' });
    assert.equal(given.time, '2024-01-01T00:00:00.000Z');
  });

  it('stops delivering once unsubscribed, by call or by dispose, even during a delivery', async () => {
    const bus = new EventBus();
    const seen: string[] = [];
    const first = bus.onAny(() => {
      seen.push('first');
      first(); // unsubscribing itself mid-delivery must not skip the next subscriber
    });
    const second = bus.on('sandbox.started', () => void seen.push('second'));
    await bus.emit(started);
    await bus.emit(started);
    assert.deepEqual(seen, ['first', 'second', 'second']);
    second.dispose();
    await bus.emit(started);
    assert.equal(seen.length, 3);
    assert.equal(bus.size, 0);
  });

  it('isolates a subscriber that throws or rejects: the emitter and the others go on, the hook hears of it', async () => {
    const failures: [unknown, string][] = [];
    const bus = new EventBus({ onSubscriberError: (error, event) => void failures.push([error, event.type]) });
    const seen: string[] = [];
    bus.onAny(() => {
      throw new Error('sync failure');
    });
    bus.onAny(async () => {
      throw new Error('async failure');
    });
    bus.onAny((event) => void seen.push(event.type));

    await bus.emit(started);
    assert.deepEqual(seen, ['sandbox.started']);
    await bus.settled();
    assert.deepEqual(
      failures.map(([error, type]) => [(error as Error).message, type]),
      [
        ['sync failure', 'sandbox.started'],
        ['async failure', 'sandbox.started'],
      ],
    );
  });

  it('does not wait for a slow subscriber that is not required; settled() does', async () => {
    const bus = new EventBus();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let done = false;
    bus.onAny(async () => {
      await held;
      done = true;
    });
    await bus.emit(started);
    assert.equal(done, false);
    const settled = bus.settled();
    release();
    await settled;
    assert.equal(done, true);
  });

  it('makes a required subscriber failure the emitter failure, after the others were still served', async () => {
    const failures: unknown[] = [];
    const bus = new EventBus({ onSubscriberError: (error) => void failures.push(error) });
    const seen: string[] = [];
    bus.onAny(
      async () => {
        throw new Error('The journal could not be written.');
      },
      { required: true },
    );
    bus.onAny((event) => void seen.push(event.type));
    await assert.rejects(bus.emit(started), /The journal could not be written/);
    assert.deepEqual(seen, ['sandbox.started']);
    await bus.settled();
    assert.deepEqual(failures, [], 'a required failure is the emitter’s, not the hook’s');

    // A required subscriber that succeeds is waited for.
    const quiet = new EventBus();
    let written = false;
    quiet.onAny(
      async () => {
        await Promise.resolve();
        written = true;
      },
      { required: true },
    );
    await quiet.emit(started);
    assert.equal(written, true);
  });
});
