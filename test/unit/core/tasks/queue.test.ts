import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { QueueEvent } from '../../../../src/core/tasks/fold';
import { QUEUE_FILE, TaskQueue, type NewQueueEvent } from '../../../../src/core/tasks/queue';

const freshRoot = (): string => mkdtempSync(path.join(os.tmpdir(), 'task-queue-'));
const addEvent = (id: string, extra: Record<string, unknown> = {}): NewQueueEvent =>
  ({ type: 'added', task: { id, command: 'true', priority: 'normal', profile: 'default', maxAttempts: 1, ...extra } }) as NewQueueEvent;
const finishEvents = (id: string): NewQueueEvent[] => [
  { type: 'assigned', id, attempt: 1, sandboxId: `sb-${id}`, sandboxName: `task-${id}`, placement: 'docker', warm: true },
  { type: 'started', id, attempt: 1 },
  { type: 'ended', id, attempt: 1, end: 'exited', exitCode: 0, next: 'succeeded' },
];
const fileLines = (queue: TaskQueue): string[] =>
  readFileSync(queue.file, 'utf8')
    .split('\n')
    .filter((line) => line !== '');

/** The compiled queue module, for child processes to append with. */
const QUEUE_MODULE = path.resolve(__dirname, '../../../../src/core/tasks/queue.js');

describe('the task queue file', function () {
  it('appends events and reads them back, only what is new on each load', function () {
    const queue = new TaskQueue(freshRoot());
    assert.equal(queue.load().tasks.size, 0, 'no file yet is an empty queue');
    const [first] = queue.append([addEvent('a1')]);
    assert.equal(first?.type, 'added');
    assert.ok(first && 'eid' in first && first.eid.length > 0, 'the queue gives each event an eid');
    queue.append(finishEvents('a1'));
    queue.append([addEvent('a2')]);
    const book = queue.load();
    assert.equal(book.get('a1')?.state, 'succeeded');
    assert.equal(book.get('a2')?.state, 'queued');
    assert.equal(queue.linesSinceCompaction, 5);
    assert.equal(statSync(queue.file).mode & 0o777, 0o600);
    const other = new TaskQueue(queue.stateRoot);
    assert.equal(other.load().get('a1')?.state, 'succeeded', 'another process reads the same state');
    assert.deepEqual(queue.problems(), []);
  });

  it('takes a plain task object line as an add whose id holds across a reload and a compaction', function () {
    const root = freshRoot();
    const queue = new TaskQueue(root);
    const text = '{"command":"echo hi","priority":"high"}';
    mkdirSync(root, { recursive: true });
    appendFileSync(queue.file, `${text}\n`);
    const [id] = [...queue.load().tasks.keys()];
    assert.ok(id);
    assert.equal(queue.load().get(id)?.priority, 'high');
    assert.deepEqual([...new TaskQueue(root).load().tasks.keys()], [id], 'a reload gives the same id');
    queue.append(finishEvents(id));
    assert.equal(queue.compact(), true);
    assert.ok(!fileLines(queue).includes(text), 'the compaction folded the plain line into a snapshot');
    assert.equal(new TaskQueue(root).load().get(id)?.state, 'succeeded', 'a compaction keeps the id');
    appendFileSync(queue.file, `${text}\n`);
    assert.deepEqual([...queue.load().tasks.keys()], [id, `${id}-1`], 'the same text again is another task');
    assert.deepEqual([...new TaskQueue(root).load().tasks.keys()], [id, `${id}-1`]);
    assert.deepEqual(queue.problems(), []);
  });

  it('reports an invalid plain line with its line number and goes on', function () {
    const queue = new TaskQueue(freshRoot());
    queue.append([addEvent('a1')]);
    appendFileSync(queue.file, '{"command":"","priority":"high"}\n{"command":"echo hi","priority":"urgent"}\n');
    queue.append([addEvent('a2')]);
    let problems: string[] = [];
    assert.doesNotThrow(() => {
      queue.load();
      problems = queue.problems();
    });
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /^Line 2 of task_queue\.jsonl: .*empty command/);
    assert.match(problems[1]!, /^Line 3 of task_queue\.jsonl: .*priority "urgent"/);
    assert.deepEqual([...queue.load().tasks.keys()], ['a1', 'a2']);
  });

  it('skips a torn last line, and the next append still lands whole', function () {
    const queue = new TaskQueue(freshRoot());
    queue.append([addEvent('a1')]);
    appendFileSync(queue.file, '{"type":"add');
    assert.deepEqual([...queue.load().tasks.keys()], ['a1']);
    assert.equal(queue.problems().length, 1);
    assert.match(queue.problems()[0]!, /last line .* is incomplete/);
    queue.append([addEvent('a2')]);
    assert.deepEqual([...queue.load().tasks.keys()], ['a1', 'a2'], 'the line after the torn one is read');
    assert.equal(queue.problems().length, 1);
    assert.match(queue.problems()[0]!, /^Line 2 of task_queue\.jsonl: not JSON/);
    assert.deepEqual([...new TaskQueue(queue.stateRoot).load().tasks.keys()], ['a1', 'a2']);
  });

  it('counts a line appended twice once, also after a compaction', function () {
    const queue = new TaskQueue(freshRoot());
    queue.append([addEvent('a1', { maxAttempts: 1 })]);
    queue.append([{ type: 'assigned', id: 'a1', attempt: 1, sandboxId: 's1', sandboxName: 'n1', placement: 'docker', warm: false }]);
    queue.append([{ type: 'ended', id: 'a1', attempt: 1, end: 'exited', exitCode: 1, next: 'failed' }]);
    queue.append([{ type: 'retry', id: 'a1' }]);
    const retryLine = fileLines(queue).at(-1)!;
    queue.append([{ type: 'assigned', id: 'a1', attempt: 2, sandboxId: 's2', sandboxName: 'n2', placement: 'docker', warm: false }]);
    queue.append([{ type: 'ended', id: 'a1', attempt: 2, end: 'exited', exitCode: 1, next: 'failed' }]);
    appendFileSync(queue.file, `${retryLine}\n`);
    assert.equal(queue.load().get('a1')?.state, 'failed', 'the retry line seen again does not queue the task again');
    assert.equal(queue.compact(), true);
    assert.ok(JSON.parse(fileLines(queue).at(-1)!).eids.includes(JSON.parse(retryLine).eid), 'the compaction lists the eids it folded');
    appendFileSync(queue.file, `${retryLine}\n`);
    const reader = new TaskQueue(queue.stateRoot);
    assert.equal(reader.load().get('a1')?.state, 'failed', 'a line appended again after a compaction counts once');
    assert.equal(reader.load().get('a1')?.maxAttempts, 2);
    assert.deepEqual(reader.problems(), []);
  });

  it('keeps unfinished tasks and the newest finished ones when it compacts, and the file shrinks', function () {
    const queue = new TaskQueue(freshRoot());
    for (let n = 1; n <= 10; n++) queue.append([addEvent(`t${n}`)]);
    for (let n = 1; n <= 8; n++) queue.append(finishEvents(`t${n}`));
    queue.append([{ type: 'cancel', id: 't9' }]);
    const before = statSync(queue.file).size;
    assert.equal(queue.compact(3), true);
    assert.ok(statSync(queue.file).size < before, `the file shrinks (${before} -> ${statSync(queue.file).size} bytes)`);
    const book = new TaskQueue(queue.stateRoot).load();
    // Finished: t1..t8 (succeeded) and t9 (cancelled); t10 is queued.
    assert.deepEqual([...book.tasks.keys()], ['t7', 't8', 't9', 't10']);
    assert.equal(book.get('t8')?.state, 'succeeded');
    assert.equal(book.get('t8')?.attempts[0]?.sandboxId, 'sb-t8');
    assert.equal(book.get('t9')?.state, 'cancelled');
    assert.equal(book.get('t10')?.state, 'queued');
    assert.equal(queue.linesSinceCompaction, 0, 'snapshot lines do not count towards the next compaction');
    assert.ok(!existsSync(path.join(queue.stateRoot, 'task_queue.lock')), 'the lock is released');
    queue.append([{ type: 'assigned', id: 't10', attempt: 1, sandboxId: 's', sandboxName: 'n', placement: 'docker', warm: false }]);
    assert.equal(queue.load().get('t10')?.state, 'assigned', 'events go on from the snapshots');
    assert.equal(queue.linesSinceCompaction, 1);
  });

  it('compacts a queue that does not exist yet into nothing', function () {
    const queue = new TaskQueue(freshRoot());
    assert.equal(queue.compact(), true);
    assert.equal(queue.load().tasks.size, 0);
    queue.append([addEvent('a1')]);
    assert.deepEqual([...queue.load().tasks.keys()], ['a1']);
  });

  it('does not compact while another process holds the lock, and takes over a stale lock', function () {
    const queue = new TaskQueue(freshRoot());
    queue.append([addEvent('a1')]);
    queue.append(finishEvents('a1'));
    const lock = path.join(queue.stateRoot, 'task_queue.lock');
    mkdirSync(lock);
    const before = readFileSync(queue.file, 'utf8');
    assert.equal(queue.compact(0), false);
    assert.equal(readFileSync(queue.file, 'utf8'), before, 'the file is untouched');
    assert.ok(existsSync(lock), 'the lock of the other process stays');
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    assert.equal(queue.compact(0), true);
    assert.equal(new TaskQueue(queue.stateRoot).load().tasks.size, 0, 'the finished task left the file');
    assert.ok(!existsSync(lock));
  });

  it('loads 20,000 lines', function () {
    const queue = new TaskQueue(freshRoot());
    const count = 20_000;
    for (let start = 0; start < count; start += 1000)
      queue.append(Array.from({ length: 1000 }, (_, n) => addEvent(`bulk-${start + n}`, { command: ['echo', String(start + n)] })));
    const book = new TaskQueue(queue.stateRoot).load();
    assert.equal(book.tasks.size, count);
    assert.deepEqual(book.get('bulk-19999')?.command, ['echo', '19999']);
    assert.equal(queue.compact(), true);
    assert.equal(new TaskQueue(queue.stateRoot).load().tasks.size, count);
  });

  it('loses and doubles no line while four processes append and another compacts', async function () {
    this.timeout(120_000);
    const root = freshRoot();
    const children = 4;
    const perChild = 250;
    const go = path.join(root, 'go');
    // Each child waits for the go file so they all append at once, and pauses between appends so
    // they spread over many compactions.
    const script = `
      const fs = require('node:fs');
      const { TaskQueue } = require(${JSON.stringify(QUEUE_MODULE)});
      const [root, child, count, go] = process.argv.slice(1);
      const pause = new Int32Array(new SharedArrayBuffer(4));
      const queue = new TaskQueue(root);
      process.stdout.write('ready\\n');
      while (!fs.existsSync(go)) Atomics.wait(pause, 0, 0, 2);
      for (let n = 0; n < Number(count); n++) {
        queue.append([{ type: 'added', task: { id: 'c' + child + '-' + n, command: 'true', priority: 'normal', profile: 'default', maxAttempts: 1 } }]);
        Atomics.wait(pause, 0, 0, 1);
      }
    `;
    // A reader in its own process, where a compaction can swap the file between its stat and its
    // open: no load may show fewer tasks than the one before (none finish, so none leave the file).
    const readerScript = `
      const { TaskQueue } = require(${JSON.stringify(QUEUE_MODULE)});
      const [root, total] = process.argv.slice(1);
      const queue = new TaskQueue(root);
      process.stdout.write('ready\\n');
      let before = 0;
      while (before < Number(total)) {
        const book = queue.load();
        if (book.tasks.size < before) throw new Error('a load showed ' + book.tasks.size + ' tasks after ' + before);
        if (book.problems.length > 0) throw new Error(JSON.stringify(book.problems));
        before = book.tasks.size;
      }
    `;
    const exits: Promise<number | null>[] = [];
    const ready: Promise<void>[] = [];
    const start = (args: string[]): void => {
      const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      ready.push(new Promise((resolve) => proc.stdout.once('data', () => resolve())));
      exits.push(new Promise((resolve) => proc.on('exit', (code) => resolve(code))));
    };
    for (let child = 0; child < children; child++) start(['-e', script, root, String(child), String(perChild), go]);
    start(['-e', readerScript, root, String(children * perChild)]);
    await Promise.all(ready);
    const compactor = new TaskQueue(root);
    const reader = new TaskQueue(root);
    let running = exits.length;
    const codes = exits.map((exit) => exit.then((code) => ((running -= 1), code)));
    writeFileSync(go, '');
    let compactions = 0;
    while (running > 0) {
      assert.equal(compactor.compact(), true);
      compactions += 1;
      reader.load();
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(await Promise.all(codes), [0, 0, 0, 0, 0]);
    assert.ok(compactions >= 5, `the compactions ran alongside the appends (${compactions})`);

    const expected = new Set<string>();
    for (let child = 0; child < children; child++) for (let n = 0; n < perChild; n++) expected.add(`c${child}-${n}`);
    for (const queue of [new TaskQueue(root), reader]) {
      const book = queue.load();
      assert.deepEqual(queue.problems(), []);
      assert.equal(book.tasks.size, expected.size);
      assert.deepEqual(new Set(book.tasks.keys()), expected);
    }
    // No task was added by two different lines: every copy of a line carries the same eid.
    const eidsById = new Map<string, Set<string>>();
    for (const line of fileLines(new TaskQueue(root))) {
      const event = JSON.parse(line) as QueueEvent;
      if (event.type !== 'added') continue;
      const eids = eidsById.get(event.task.id) ?? new Set<string>();
      eids.add(event.eid);
      eidsById.set(event.task.id, eids);
    }
    for (const [id, eids] of eidsById) assert.equal(eids.size, 1, `${id} was added by ${eids.size} lines`);
    assert.equal(compactor.compact(), true);
    const final = new TaskQueue(root);
    assert.deepEqual(new Set(final.load().tasks.keys()), expected);
    assert.deepEqual(final.problems(), []);
    assert.equal(fileLines(final).length, expected.size + 1, 'one snapshot per task and the seen line');
    assert.ok(readFileSync(path.join(root, QUEUE_FILE), 'utf8').endsWith('\n'));
  });
});
