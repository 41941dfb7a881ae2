import * as assert from 'node:assert/strict';
import { evaluate, type GateHistoryLine } from '../../../../src/core/evaluator/evaluate';
import type { Task } from '../../../../src/core/tasks/model';

const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 0, minutes)).toISOString();
function task(id: string, state: Task['state'], agentId: string, command: string, minutes = 1): Task {
  return {
    id,
    state,
    agentId,
    command,
    priority: 'normal',
    profile: 'default',
    maxAttempts: 1,
    createdAt: at(0),
    updatedAt: at(minutes),
    attempts: [{ number: 1, assignedAt: at(0), startedAt: at(0), endedAt: at(minutes) }],
  };
}
const line = (taskId: string, phase: GateHistoryLine['phase'], level?: GateHistoryLine['level'], extra: Partial<GateHistoryLine> = {}): GateHistoryLine => ({
  time: at(5),
  taskId,
  attempt: 1,
  phase,
  ...(level ? { level } : {}),
  tests: { total: 3, failed: 0 },
  diff: { files: 1, addedLines: 4, removedLines: 2 },
  lintFindings: 2,
  ...extra,
});

describe('the evaluator', function () {
  const tasks = [
    task('a', 'succeeded', 'alice', 'pytest -q', 2),
    task('b', 'failed', 'alice', 'pytest -q', 4),
    task('c', 'failed', 'bob', ['npm', 'test'] as unknown as string, 1),
    task('d', 'cancelled', 'bob', 'npm test', 1),
  ];
  const history = [line('a', 'applied'), line('b', 'failed', 'L0', { tests: { total: 3, failed: 1 } }), line('c', 'failed', 'L1')];

  it('rates success without cancelled tasks, and each gate by the changes that reached it', function () {
    const { overall } = evaluate(tasks, history);
    assert.equal(overall.tasks, 4);
    assert.equal(overall.finished, 3);
    assert.equal(overall.successRate, 1 / 3);
    assert.deepEqual(overall.gates.L0, { passed: 2, failed: 1, rate: 2 / 3 });
    assert.deepEqual(overall.gates.L1, { passed: 1, failed: 1, rate: 0.5 });
    assert.deepEqual(overall.gates.L2, { passed: 0, failed: 0, rate: null });
    assert.equal(overall.meanDiffLines, 6);
    assert.equal(overall.computeSeconds, (2 + 4 + 1 + 1) * 60);
  });

  it('groups per agent and per kind, and says the trend', function () {
    const evaluation = evaluate(tasks, history, 1);
    assert.deepEqual(
      evaluation.byAgent.map((row) => [row.key, row.successRate]),
      [
        ['alice', 0.5],
        ['bob', 0],
      ],
    );
    assert.deepEqual(evaluation.byKind.map((row) => row.key).sort(), ['default/npm', 'default/pytest']);
    assert.deepEqual(evaluation.trend, { window: 1, recent: 0, before: 1 });
  });
});
