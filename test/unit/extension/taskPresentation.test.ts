import * as assert from 'node:assert/strict';
import type { SandboxRecord } from '../../../src/core/model';
import type { Task, TaskState } from '../../../src/core/tasks/model';
import {
  attemptLine,
  groupTasks,
  poolMark,
  taskContextValue,
  taskDescription,
  taskElapsed,
  taskGroupLabel,
  taskIcon,
  taskLabel,
  taskSandboxId,
  taskStatusText,
  taskTooltipLines,
  TASK_GROUP_ORDER,
} from '../../../src/extension/taskPresentation';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

function task(id: string, state: TaskState, extra: Partial<Task> = {}): Task {
  return {
    id,
    state,
    command: 'npm test',
    priority: 'normal',
    profile: 'default',
    maxAttempts: 2,
    createdAt: at(0),
    updatedAt: at(0),
    attempts: [],
    ...extra,
  };
}

const running = task('t1', 'running', {
  priority: 'high',
  updatedAt: at(5),
  attempts: [{ number: 1, sandboxId: 'abc123', sandboxName: 'sandbox-abc123', placement: 'docker', warm: true, assignedAt: at(2), startedAt: at(3) }],
});
const failed = task('t2', 'failed', {
  updatedAt: at(100),
  reason: 'It failed on every machine it was tried on.',
  attempts: [
    {
      number: 1,
      sandboxId: 's1',
      sandboxName: 'sandbox-s1',
      placement: 'docker',
      assignedAt: at(10),
      startedAt: at(11),
      endedAt: at(20),
      end: 'sandbox-lost',
      reason: 'The sandbox was removed.',
    },
    {
      number: 2,
      sandboxId: 's2',
      sandboxName: 'sandbox-s2',
      placement: 'ssh:build',
      warm: true,
      assignedAt: at(30),
      startedAt: at(31),
      endedAt: at(90),
      end: 'exited',
      exitCode: 3,
    },
  ],
});

const sandbox = (name: string, agentId: string, state: SandboxRecord['state'] = 'running'): SandboxRecord => ({
  id: `${name}-id`,
  name,
  agentId,
  provider: 'docker',
  profile: { image: 'img', cpus: 2, memory: 2 * 1024 ** 3, pids: 1024, sudo: true },
  state,
  createdAt: at(0),
  updatedAt: at(0),
  workdir: '/home/agent/workspace',
  user: 'agent',
  ports: {},
});

describe('task presentation', () => {
  it('groups by state in the view order, leaving empty groups out', () => {
    assert.deepEqual(TASK_GROUP_ORDER, ['running', 'queued', 'assigned', 'failed', 'succeeded', 'cancelled']);
    const groups = groupTasks([task('a', 'succeeded'), running, task('b', 'queued'), failed]);
    assert.deepEqual(
      groups.map((group) => [group.state, group.tasks.map((t) => t.id)]),
      [
        ['running', ['t1']],
        ['queued', ['b']],
        ['failed', ['t2']],
        ['succeeded', ['a']],
      ],
    );
    assert.deepEqual(groupTasks([]), []);
    assert.deepEqual(
      TASK_GROUP_ORDER.map((state) => taskGroupLabel(state)),
      ['Running', 'Queued', 'Assigned', 'Failed', 'Succeeded', 'Cancelled'],
    );
  });

  it('puts waiting tasks oldest first and finished ones newest first', () => {
    const queued = groupTasks([task('late', 'queued', { createdAt: at(50) }), task('early', 'queued', { createdAt: at(1) })])[0]!;
    assert.deepEqual(
      queued.tasks.map((t) => t.id),
      ['early', 'late'],
    );
    const done = groupTasks([task('old', 'succeeded', { updatedAt: at(10) }), task('new', 'succeeded', { updatedAt: at(90) })])[0]!;
    assert.deepEqual(
      done.tasks.map((t) => t.id),
      ['new', 'old'],
    );
  });

  it('labels a task by its title, else its command on one line', () => {
    assert.equal(taskLabel(task('a', 'queued', { title: 'Run the tests' })), 'Run the tests');
    assert.equal(taskLabel(task('a', 'queued', { command: ['make', '-j4', 'all'] })), 'make -j4 all');
    assert.equal(taskLabel(task('a', 'queued', { command: 'x'.repeat(100) })).length, 80);
  });

  it('describes priority, elapsed time since placement and attempt n/max', () => {
    assert.equal(taskDescription(task('q', 'queued'), T0 + 60_000), 'normal · attempt 0/2');
    assert.equal(taskDescription(running, T0 + 62_000), 'high · 1m · attempt 1/2');
    // A finished task's time stops at its end.
    assert.equal(taskElapsed(failed, T0 + 3_600_000), '1m');
    assert.equal(taskDescription(failed, T0 + 3_600_000), 'normal · 1m · attempt 2/2');
    assert.equal(taskDescription({ ...running, cancelRequested: true }, T0 + 10_000), 'high · 8s · attempt 1/2 · cancelling');
  });

  it('tags context values with what applies: cancel while unfinished, retry once failed or cancelled, output once started', () => {
    assert.equal(taskContextValue(task('q', 'queued')), 'task+queued+cancellable');
    assert.equal(taskContextValue(running), 'task+running+cancellable+output+sandbox');
    assert.equal(taskContextValue(failed), 'task+failed+retryable+output+sandbox');
    assert.equal(taskContextValue(task('c', 'cancelled')), 'task+cancelled+retryable');
    assert.equal(taskContextValue({ ...running, state: 'succeeded' }), 'task+succeeded+output+sandbox');
    const assigned = task('a', 'assigned', { attempts: [{ number: 1, sandboxId: 'x', assignedAt: at(1) }] });
    assert.equal(taskContextValue(assigned), 'task+assigned+cancellable+sandbox');
  });

  it('gives every state its own icon', () => {
    const icons = TASK_GROUP_ORDER.map((state) => taskIcon(task('x', state)).id);
    assert.equal(new Set(icons).size, icons.length);
  });

  it('lists every attempt in the tooltip: sandbox, placement, warm or new, end and reason', () => {
    assert.equal(attemptLine(failed.attempts[0]!), 'attempt 1: sandbox-s1 on docker (new), sandbox-lost: The sandbox was removed.');
    assert.equal(attemptLine(failed.attempts[1]!), 'attempt 2: sandbox-s2 on ssh:build (warm), exited (exit 3)');
    assert.equal(attemptLine(running.attempts[0]!), 'attempt 1: sandbox-abc123 on docker (warm), running');
    const lines = taskTooltipLines(failed);
    assert.equal(lines[0], '**npm test** — failed');
    assert.ok(lines.includes('- reason: It failed on every machine it was tried on.'));
    assert.ok(lines.includes('- attempt 2: sandbox-s2 on ssh:build (warm), exited (exit 3)'));
    assert.ok(taskTooltipLines(task('q', 'queued')).includes('- not placed yet'));
    // A title is the user's text: markdown in it is shown, not rendered.
    assert.equal(taskTooltipLines(task('q', 'queued', { title: '*bold* [link](x)' }))[0], '**\\*bold\\* \\[link\\](x)** — queued');
  });

  it("names the latest attempt's sandbox", () => {
    assert.equal(taskSandboxId(failed), 's2');
    assert.equal(taskSandboxId(task('q', 'queued')), undefined);
  });

  it('counts running and queued tasks for the status bar, and hides it without tasks', () => {
    assert.equal(taskStatusText([]), undefined);
    const shown = taskStatusText([running, task('a', 'assigned'), task('q', 'queued'), failed])!;
    assert.equal(shown.text, '$(tasklist) 2 running · 1 queued');
    assert.match(shown.tooltip, /^2 tasks running, 1 queued, 1 failed;/);
    assert.equal(taskStatusText([task('s', 'succeeded')])!.text, '$(tasklist) 0 running · 0 queued');
  });

  it('marks pool sandboxes warm or in use, and no other sandbox', () => {
    const pools = { warm: new Set(['sandbox-w']), busy: new Set(['sandbox-b']) };
    assert.equal(poolMark(sandbox('sandbox-w', 'pool:default'), pools), 'warm');
    assert.equal(poolMark(sandbox('sandbox-b', 'pool:default'), pools), 'pool, in use');
    assert.equal(poolMark(sandbox('sandbox-c', 'pool:default', 'creating'), pools), 'pool');
    assert.equal(poolMark(sandbox('sandbox-w', 'claude'), pools), undefined);
  });
});
