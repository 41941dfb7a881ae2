import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { EventBus } from '../../../../src/core/events/bus';
import { EventLog, serializeEvent } from '../../../../src/core/events/eventLog';
import type { BusEvent } from '../../../../src/core/events/types';

const run = promisify(execFile);
const EVENT_LOG_MODULE = path.resolve(__dirname, '../../../../src/core/events/eventLog.js');

function started(sandboxId: string, name = 'box'): BusEvent {
  return { type: 'sandbox.started', sandboxId, name, time: new Date().toISOString() };
}

/** Appends `count` events to the log in `dir` from another node process, each named `<label>-<i>`. */
async function appendFromAnotherProcess(dir: string, label: string, count: number, maxBytes?: number): Promise<void> {
  const script = `
    const { EventLog } = require(${JSON.stringify(EVENT_LOG_MODULE)});
    const log = new EventLog(${JSON.stringify(dir)}, ${JSON.stringify(maxBytes === undefined ? {} : { maxBytes })});
    (async () => {
      for (let i = 0; i < ${count}; i++) {
        log.append({ type: 'sandbox.started', sandboxId: ${JSON.stringify(label)}, name: ${JSON.stringify(label)} + '-' + i, time: new Date().toISOString() });
      }
    })().catch((error) => { console.error(error); process.exit(1); });
  `;
  await run(process.execPath, ['-e', script]);
}

/** The next `count` events of a follower. */
async function take(events: AsyncGenerator<BusEvent>, count: number): Promise<BusEvent[]> {
  const taken: BusEvent[] = [];
  while (taken.length < count) {
    const next = await events.next();
    if (next.done) break;
    taken.push(next.value);
  }
  return taken;
}

describe('event log (events.jsonl)', () => {
  let dir: string;

  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'event-log-test-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends the bus events, without their local part, and reads them from an offset', async () => {
    const log = new EventLog(dir);
    const bus = new EventBus();
    log.subscribe(bus);
    assert.deepEqual(await log.read(0), { events: [], nextOffset: 0, fileId: undefined });

    const first = await bus.emit({ type: 'sandbox.started', sandboxId: 'a', name: 'a' });
    await bus.settled();
    const afterFirst = await log.read(0);
    assert.deepEqual(afterFirst.events, [first]);
    assert.equal(afterFirst.nextOffset, (await fs.stat(log.file)).size);

    await bus.emit({
      type: 'sync.ended',
      sandboxId: 'a',
      direction: 'pull',
      local: '/l',
      remote: '/r',
      files: 1,
      bytes: 2,
      deleted: 0,
      durationMs: 3,
      localOnly: { details: { secret: 'kept here' } },
    });
    await bus.settled();
    const fromOffset = await log.read(afterFirst.nextOffset, afterFirst.fileId);
    assert.deepEqual(
      fromOffset.events.map((event) => event.type),
      ['sync.ended'],
    );
    assert.equal('localOnly' in fromOffset.events[0]!, false);
    assert.ok(!(await fs.readFile(log.file, 'utf8')).includes('kept here'));
    assert.deepEqual((await log.read(fromOffset.nextOffset, fromOffset.fileId)).events, []);
    assert.deepEqual(await log.end(), { offset: fromOffset.nextOffset, fileId: fromOffset.fileId });
  });

  it('keeps every line whole when several processes append at once', async () => {
    await Promise.all([appendFromAnotherProcess(dir, 'p1', 150), appendFromAnotherProcess(dir, 'p2', 150), appendFromAnotherProcess(dir, 'p3', 150)]);
    const text = await fs.readFile(path.join(dir, 'events.jsonl'), 'utf8');
    const lines = text.split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 450);
    for (const line of lines) JSON.parse(line); // throws on an interleaved line
    const { events } = await new EventLog(dir).read(0);
    for (const label of ['p1', 'p2', 'p3']) {
      const names = events.filter((event) => event.sandboxId === label).map((event) => (event as { name: string }).name);
      assert.deepEqual(
        names,
        Array.from({ length: 150 }, (_, i) => `${label}-${i}`),
        'each process in its own order',
      );
    }
  });

  it('follows from an offset and sees an append made by another process', async () => {
    const log = new EventLog(dir, { pollMs: 60_000 }); // only fs.watch can wake it in time
    log.append(started('before'));
    const { offset, fileId } = await log.end();
    const abort = new AbortController();
    const follower = log.follow(offset, abort.signal, fileId);
    const next = take(follower, 2);
    await appendFromAnotherProcess(dir, 'other', 2);
    const seen = await next;
    assert.deepEqual(
      seen.map((event) => (event as { name: string }).name),
      ['other-0', 'other-1'],
    );
    abort.abort();
    assert.deepEqual(await follower.next(), { done: true, value: undefined });
  });

  it('wakes a follower by its poll where no file-system notice comes', async () => {
    const log = new EventLog(dir, { pollMs: 20, watch: false });
    const abort = new AbortController();
    const follower = log.follow(0, abort.signal);
    const next = take(follower, 1);
    await appendFromAnotherProcess(dir, 'polled', 1);
    assert.equal((await next)[0]!.sandboxId, 'polled');
    abort.abort();
    await follower.return(undefined);
  });

  it('leaves a torn last line until it is whole, and recovers the event after a line a dead writer cut short', async () => {
    const log = new EventLog(dir);
    log.append(started('whole'));
    const line = serializeEvent(started('late')).toString('utf8');
    await fs.appendFile(log.file, line.slice(0, 20)); // a writer mid-line
    const partial = await log.read(0);
    assert.deepEqual(
      partial.events.map((event) => event.sandboxId),
      ['whole'],
    );
    assert.equal(partial.nextOffset, (await fs.readFile(log.file, 'utf8')).indexOf('\n') + 1, 'the next read starts at the torn line');

    const abort = new AbortController();
    const follower = log.follow(partial.nextOffset, abort.signal, partial.fileId);
    const next = take(follower, 1);
    await fs.appendFile(log.file, line.slice(20));
    assert.equal((await next)[0]!.sandboxId, 'late');
    abort.abort();
    await follower.return(undefined);

    // A writer that died mid-line: the next append follows on the same line, and is still read.
    await fs.appendFile(log.file, line.slice(0, 30));
    log.append(started('after-crash'));
    const all = await log.read(0);
    assert.deepEqual(
      all.events.map((event) => event.sandboxId),
      ['whole', 'late', 'after-crash'],
    );
  });

  it('rotates to events.1.jsonl at its size bound, and readers go on across the rotation', async () => {
    const maxBytes = 1000;
    const log = new EventLog(dir, { maxBytes, pollMs: 60_000 });
    log.append(started('r0'));
    const before = await log.read(0);
    const abort = new AbortController();
    const follower = log.follow(before.nextOffset, abort.signal, before.fileId);
    const followed = take(follower, 15);

    // Another process writes past the bound once (15 lines of about 95 bytes).
    await appendFromAnotherProcess(dir, 'rot', 15, maxBytes);
    const rotated = await fs.stat(log.rotatedFile);
    assert.ok(rotated.size >= maxBytes);
    assert.ok((await fs.stat(log.file)).size < maxBytes);

    const seen = await followed;
    abort.abort();
    await follower.return(undefined);
    assert.deepEqual(
      seen.map((event) => (event as { name: string }).name),
      Array.from({ length: 15 }, (_, i) => `rot-${i}`),
    );

    // A reader of the file before the rotation gets the rest of it, then the new file from its start.
    const small = new EventLog(path.join(dir, 'once'), { maxBytes: 400 });
    small.append(started('o0'));
    const mark = await small.read(0);
    for (let i = 1; i <= 4; i++) small.append(started(`o${i}`));
    assert.ok((await fs.stat(small.rotatedFile)).size > 0, 'rotated once');
    const resumed = await small.read(mark.nextOffset, mark.fileId);
    assert.deepEqual(
      resumed.events.map((event) => event.sandboxId),
      ['o1', 'o2', 'o3', 'o4'],
    );
  });

  it("writes the bus's events soon after, in order, and before a process.exit right after", async () => {
    const log = new EventLog(dir);
    log.appendSoon(started('soon-1'));
    log.appendSoon(started('soon-2'));
    assert.equal(
      await fs.stat(log.file).then(
        () => 'written',
        () => 'not yet',
      ),
      'not yet',
      "off the emitter's path",
    );
    // Written by its own timer, without a read here to hurry it.
    const deadline = Date.now() + 5000;
    while (
      !(await fs.stat(log.file).then(
        () => true,
        () => false,
      )) &&
      Date.now() < deadline
    )
      await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(
      (await log.read(0)).events.map((event) => event.sandboxId),
      ['soon-1', 'soon-2'],
    );

    // A process that exits at once still leaves its events in the file.
    const script = `
      const { EventLog } = require(${JSON.stringify(EVENT_LOG_MODULE)});
      new EventLog(${JSON.stringify(dir)}).appendSoon({ type: 'sandbox.started', sandboxId: 'at-exit', name: 'x', time: new Date().toISOString() });
      process.exit(0);
    `;
    await run(process.execPath, ['-e', script]);
    assert.deepEqual(
      (await new EventLog(dir).read(0)).events.map((event) => event.sandboxId),
      ['soon-1', 'soon-2', 'at-exit'],
    );
  });
});
