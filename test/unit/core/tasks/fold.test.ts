import * as assert from 'node:assert/strict';
import { TaskBook, type QueueEvent } from '../../../../src/core/tasks/fold';

const T0 = '2026-01-01T00:00:00.000Z';
let eidCounter = 0;
const eid = (): string => `e${++eidCounter}`;

const added = (id: string, extra: Record<string, unknown> = {}): QueueEvent =>
  ({ type: 'added', eid: eid(), time: T0, task: { id, command: 'echo hi', priority: 'normal', profile: 'default', maxAttempts: 2, ...extra } }) as QueueEvent;
const assigned = (id: string, attempt: number): QueueEvent => ({
  type: 'assigned',
  eid: eid(),
  time: T0,
  id,
  attempt,
  sandboxId: `sb${attempt}`,
  sandboxName: `task-${attempt}`,
  placement: 'docker',
  warm: false,
});
const started = (id: string, attempt: number): QueueEvent => ({ type: 'started', eid: eid(), time: T0, id, attempt });
const ended = (id: string, attempt: number, next: 'succeeded' | 'failed' | 'cancelled' | 'queued', exitCode = next === 'succeeded' ? 0 : 1): QueueEvent => ({
  type: 'ended',
  eid: eid(),
  time: T0,
  id,
  attempt,
  end: 'exited',
  exitCode,
  next,
});

/** A book fed the events through their JSON lines, as a reader of the file would. */
function bookOf(...events: QueueEvent[]): TaskBook {
  const book = new TaskBook();
  events.forEach((event, index) => book.applyLine(JSON.stringify(event), index + 1));
  return book;
}

describe('the fold of the task queue', function () {
  it('follows a task from added through assigned and started to succeeded', function () {
    const book = new TaskBook();
    book.applyLine(JSON.stringify(added('a1')), 1);
    assert.equal(book.get('a1')?.state, 'queued');
    book.applyLine(JSON.stringify(assigned('a1', 1)), 2);
    assert.equal(book.get('a1')?.state, 'assigned');
    assert.equal(book.get('a1')?.attempts[0]?.sandboxId, 'sb1');
    book.applyLine(JSON.stringify(started('a1', 1)), 3);
    assert.equal(book.get('a1')?.state, 'running');
    book.applyLine(JSON.stringify(ended('a1', 1, 'succeeded')), 4);
    const task = book.get('a1');
    assert.equal(task?.state, 'succeeded');
    assert.equal(task?.attempts.length, 1);
    assert.equal(task?.attempts[0]?.end, 'exited');
    assert.equal(task?.attempts[0]?.exitCode, 0);
    assert.equal(task?.reason, undefined);
    assert.deepEqual(book.problems, []);
  });

  it('ends a task as failed with a reason naming its exit code', function () {
    const book = bookOf(added('a1'), assigned('a1', 1), started('a1', 1), ended('a1', 1, 'failed', 3));
    assert.equal(book.get('a1')?.state, 'failed');
    assert.match(book.get('a1')?.reason ?? '', /exited with 3/);
  });

  it("queues a task again when an attempt ends with next 'queued', and takes the next attempt", function () {
    const book = bookOf(added('a1'), assigned('a1', 1), started('a1', 1), ended('a1', 1, 'queued'));
    assert.equal(book.get('a1')?.state, 'queued');
    assert.equal(book.get('a1')?.attempts.length, 1);
    book.apply(assigned('a1', 2));
    assert.equal(book.get('a1')?.state, 'assigned');
    assert.equal(book.get('a1')?.attempts.length, 2);
    assert.equal(book.get('a1')?.attempts[1]?.number, 2);
  });

  it('changes nothing on an event for a stale attempt', function () {
    const book = bookOf(added('a1'), assigned('a1', 1), started('a1', 1), ended('a1', 1, 'queued'), assigned('a1', 2), started('a1', 2));
    const before = JSON.stringify(book.get('a1'));
    book.apply(ended('a1', 1, 'failed'));
    book.apply(started('a1', 1));
    book.apply(assigned('a1', 1));
    book.apply(assigned('a1', 5));
    assert.equal(JSON.stringify(book.get('a1')), before);
    assert.equal(book.get('a1')?.state, 'running');
  });

  it('ignores events for a task it does not know', function () {
    const book = bookOf(started('nobody', 1), { type: 'cancel', eid: eid(), time: T0, id: 'nobody' });
    assert.equal(book.tasks.size, 0);
    assert.deepEqual(book.problems, []);
  });

  it('cancels a queued task at once, and asks a running one to stop', function () {
    const book = bookOf(added('q1'), added('r1'), assigned('r1', 1), started('r1', 1));
    book.apply({ type: 'cancel', eid: eid(), time: T0, id: 'q1' });
    book.apply({ type: 'cancel', eid: eid(), time: T0, id: 'r1' });
    assert.equal(book.get('q1')?.state, 'cancelled');
    assert.ok(book.get('q1')?.reason);
    assert.equal(book.get('r1')?.state, 'running');
    assert.equal(book.get('r1')?.cancelRequested, true);
    book.apply({ ...(ended('r1', 1, 'cancelled') as Extract<QueueEvent, { type: 'ended' }>), end: 'cancelled', reason: 'Cancelled while it ran.' });
    assert.equal(book.get('r1')?.state, 'cancelled');
    assert.equal(book.get('r1')?.reason, 'Cancelled while it ran.');
  });

  it('retries a failed task with one more attempt allowed', function () {
    const book = bookOf(
      added('a1', { maxAttempts: 2 }),
      assigned('a1', 1),
      ended('a1', 1, 'queued'),
      assigned('a1', 2),
      started('a1', 2),
      ended('a1', 2, 'failed'),
    );
    assert.equal(book.get('a1')?.state, 'failed');
    book.apply({ type: 'retry', eid: eid(), time: T0, id: 'a1' });
    const task = book.get('a1');
    assert.equal(task?.state, 'queued');
    assert.equal(task?.maxAttempts, 3);
    assert.equal(task?.reason, undefined);
    book.apply(assigned('a1', 3));
    assert.equal(book.get('a1')?.state, 'assigned');
  });

  it('does not retry a task that has not finished', function () {
    const book = bookOf(added('a1'), assigned('a1', 1));
    book.apply({ type: 'retry', eid: eid(), time: T0, id: 'a1' });
    assert.equal(book.get('a1')?.state, 'assigned');
    assert.equal(book.get('a1')?.maxAttempts, 2);
  });

  it('ignores a second add with the same idempotency key', function () {
    const book = bookOf(added('k1', { idempotencyKey: 'build-42', title: 'first' }), added('k2', { idempotencyKey: 'build-42', title: 'second' }));
    assert.equal(book.tasks.size, 1);
    assert.equal(book.byIdempotencyKey('build-42')?.id, 'k1');
    assert.equal(book.get('k1')?.title, 'first');
  });

  it('counts an event line that appears twice once', function () {
    const book = new TaskBook();
    const line = JSON.stringify(added('a1'));
    book.applyLine(line, 1);
    const retry = JSON.stringify({ type: 'retry', eid: 'r-same', time: T0, id: 'a1' });
    book.applyLine(JSON.stringify(assigned('a1', 1)), 2);
    book.applyLine(JSON.stringify(ended('a1', 1, 'failed')), 3);
    book.applyLine(retry, 4);
    book.applyLine(JSON.stringify(assigned('a1', 2)), 5);
    book.applyLine(JSON.stringify(ended('a1', 2, 'failed')), 6);
    book.applyLine(retry, 7);
    book.applyLine(line, 8);
    assert.equal(book.get('a1')?.state, 'failed', 'the repeated retry must not queue the task again');
    assert.equal(book.get('a1')?.maxAttempts, 2);
    assert.equal(book.tasks.size, 1);
    assert.equal(book.foldedEids().length, 6);
  });

  it('takes a plain task object as an add, with an id from its text', function () {
    const text = '{"command":"echo hi","priority":"high"}';
    const book = new TaskBook();
    book.applyLine(text, 1);
    assert.equal(book.tasks.size, 1);
    const [task] = book.tasks.values();
    assert.match(task!.id, /^t[0-9a-f]{10}$/);
    assert.equal(task!.command, 'echo hi');
    assert.equal(task!.priority, 'high');
    assert.equal(task!.state, 'queued');
    assert.equal(task!.profile, 'default');
    const again = new TaskBook();
    again.applyLine(text, 1);
    assert.deepEqual([...again.tasks.keys()], [task!.id], 'a reload gives the same id');
  });

  it('makes two tasks of the same plain text written twice', function () {
    const text = '{"command":"echo hi","priority":"high"}';
    const book = new TaskBook();
    book.applyLine(text, 1);
    book.applyLine(text, 2);
    const ids = [...book.tasks.keys()];
    assert.equal(ids.length, 2);
    assert.equal(ids[1], `${ids[0]}-1`);
  });

  it('reads the fields of a plain task object', function () {
    const book = new TaskBook();
    book.applyLine(
      JSON.stringify({
        command: ['make', 'test'],
        title: 'Tests',
        workspace: '/src/app',
        profile: 'big-box',
        env: { CI: '1' },
        timeout: 60000,
        attempts: 3,
        idempotencyKey: 'tests-1',
        keep: true,
        resultDir: '/tmp/out',
      }),
      1,
    );
    const [task] = book.tasks.values();
    assert.deepEqual(task!.command, ['make', 'test']);
    assert.equal(task!.title, 'Tests');
    assert.equal(task!.workspace, '/src/app');
    assert.equal(task!.profile, 'big-box');
    assert.deepEqual(task!.env, { CI: '1' });
    assert.equal(task!.timeoutMs, 60000);
    assert.equal(task!.maxAttempts, 3);
    assert.equal(task!.idempotencyKey, 'tests-1');
    assert.equal(task!.keep, true);
    assert.equal(task!.resultDir, '/tmp/out');
    assert.equal(task!.priority, 'normal');
  });

  it('reports invalid and malformed lines with their numbers, skips them and goes on', function () {
    const book = new TaskBook();
    const lines = [
      '{"command":"","priority":"high"}',
      '{"command":"echo ok","priority":"urgent"}',
      '{"type":"add',
      '[1,2]',
      '{"type":"exploded","eid":"x1"}',
      '{"type":"added","eid":"x2","time":"2026-01-01T00:00:00.000Z","task":{"id":"../etc","command":"ls"}}',
      '',
      '{"command":"echo fine"}',
    ];
    assert.doesNotThrow(() => lines.forEach((line, index) => book.applyLine(line, index + 1)));
    assert.deepEqual(
      book.problems.map((p) => p.line),
      [1, 2, 3, 4, 5, 6],
    );
    assert.match(book.problems[0]!.problem, /empty command/);
    assert.match(book.problems[1]!.problem, /priority "urgent"/);
    assert.match(book.problems[2]!.problem, /not JSON/);
    assert.equal(book.tasks.size, 1);
    assert.equal([...book.tasks.values()][0]!.command, 'echo fine');
  });

  it('restores a task from its snapshot line, replacing what was folded before', function () {
    const book = bookOf(added('a1'), assigned('a1', 1), started('a1', 1));
    const [snapshot] = book.snapshotLines(() => true);
    const restored = new TaskBook();
    restored.applyLine(snapshot!, 1);
    assert.deepEqual(restored.get('a1'), book.get('a1'));
    restored.apply(ended('a1', 1, 'succeeded'));
    assert.equal(restored.get('a1')?.state, 'succeeded');
  });

  it('refuses a snapshot line with a state or id it does not know, and goes on', function () {
    const book = bookOf(added('a1'));
    const task = JSON.parse(book.snapshotLines(() => true)[0]!).task as Record<string, unknown>;
    const restored = new TaskBook();
    restored.applyLine(JSON.stringify({ type: 'snapshot', task: { ...task, state: 'paused' } }), 1);
    restored.applyLine(JSON.stringify({ type: 'snapshot', task: { ...task, id: '../x' } }), 2);
    restored.applyLine(JSON.stringify({ type: 'snapshot', task: { ...task, id: 'a2' } }), 3);
    assert.deepEqual(
      restored.problems.map((p) => p.line),
      [1, 2],
    );
    assert.deepEqual([...restored.tasks.keys()], ['a2']);
  });

  it('gives a plain line with the text of a restored plain task the next id', function () {
    const text = '{"command":"echo hi"}';
    const book = new TaskBook();
    book.applyLine(text, 1);
    book.applyLine(text, 2);
    const restored = new TaskBook();
    book.snapshotLines(() => true).forEach((line, index) => restored.applyLine(line, index + 1));
    restored.applyLine(text, 3);
    book.applyLine(text, 3);
    assert.deepEqual([...restored.tasks.keys()], [...book.tasks.keys()]);
    assert.equal(restored.tasks.size, 3);
  });

  it("skips an event whose eid a compaction's seen line lists", function () {
    const event = added('a1');
    const book = new TaskBook();
    book.applyLine(JSON.stringify({ type: 'seen', eids: [(event as { eid: string }).eid] }), 1);
    book.applyLine(JSON.stringify(event), 2);
    assert.equal(book.tasks.size, 0);
    assert.deepEqual(book.foldedEids(), [], 'a seen list is not carried on again');
  });

  describe('gate and review lines', function () {
    const gate = (id: string, attempt: number, phase: string, extra: Record<string, unknown> = {}): QueueEvent =>
      ({ type: 'gate', eid: eid(), time: T0, id, attempt, phase, ...extra }) as QueueEvent;
    const review = (id: string, decision: string, note?: string): QueueEvent =>
      ({ type: 'review', eid: eid(), time: T0, id, decision, ...(note ? { note } : {}) }) as QueueEvent;

    it('follow the change of the current attempt, and keep one decision on a change under review', function () {
      const book = bookOf(
        added('g1', { gates: true, workspace: '/w' }),
        assigned('g1', 1),
        started('g1', 1),
        gate('g1', 1, 'checking'),
        gate('g1', 1, 'review', { level: 'L2', reason: 'secrets/ changed' }),
        review('g1', 'reject', 'not now'),
        review('g1', 'approve'),
      );
      const task = book.get('g1')!;
      assert.equal(task.gates, true);
      assert.deepEqual(
        { ...task.gate, review: { ...task.gate!.review, time: undefined } },
        {
          attempt: 1,
          phase: 'review',
          level: 'L2',
          reason: 'secrets/ changed',
          review: { decision: 'reject', note: 'not now', time: undefined },
        },
      );
      // The gates looking again after a restart keep the decision made on this attempt.
      const again = bookOf(
        added('g2', { gates: true, workspace: '/w' }),
        assigned('g2', 1),
        gate('g2', 1, 'review'),
        review('g2', 'approve'),
        gate('g2', 1, 'checking'),
      );
      assert.equal(again.get('g2')!.gate!.review?.decision, 'approve');
    });

    it('ignore a decision on a change not under review, a gate line of another attempt, and unknown phases or levels', function () {
      const book = bookOf(
        added('g3', { gates: true, workspace: '/w' }),
        review('g3', 'approve'),
        assigned('g3', 1),
        gate('g3', 2, 'applied'),
        gate('g3', 1, 'bogus'),
        gate('g3', 1, 'failed', { level: 'L9' }),
        review('g3', 'maybe'),
      );
      assert.equal(book.get('g3')!.gate, undefined);
    });

    it('refuse gates on a task without a workspace', function () {
      const book = bookOf(added('g4', { gates: true }));
      assert.equal(book.get('g4'), undefined);
      assert.match(book.problems[0]!.problem, /gates needs a workspace/);
    });
  });
});
