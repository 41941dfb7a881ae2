import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type { GateResult } from '../../../src/core/gates/pipeline';
import { gateFindings, gateTests, workspaceFile } from '../../../src/extension/gates/gateFindings';

const workspace = '/home/u/project';
const result = {
  taskId: 't1',
  attempt: 1,
  workspace,
  workdir: '/home/agent/workspace',
  time: '2026-01-01T00:00:00.000Z',
  phase: 'failed',
  level: 'L0',
  changes: [],
  stats: { files: 1, addedLines: 1, removedLines: 1 },
  l0: {
    checks: [],
    durationMs: 1,
    tests: [
      {
        id: 'calc::test_halve',
        name: 'test_halve',
        status: 'failed',
        message: 'assert 2.6 == 4',
        output: 'trace',
        location: { path: 'py/test_calc.py', line: 13 },
      },
      { id: 'calc::test_add', name: 'test_add', status: 'passed', location: { path: 'py/test_calc.py', line: 4 } },
      { id: 'x::escape', name: 'escape', status: 'failed', location: { path: '../../etc/passwd', line: 1 } },
    ],
    findings: [{ check: 'eslint', message: 'no-unused-vars', location: { path: 'js/a.js', line: 2, column: 5 } }],
  },
  l1: [
    {
      kind: 'regression',
      testId: 'calc::test_halve',
      message: 'test_halve passed on the base and fails now.',
      location: { path: 'py/test_calc.py', line: 13 },
    },
  ],
  snapshots: { pre: 'task-t1-1-base' },
  timings: {},
} as unknown as GateResult;

describe('gate findings for VS Code', function () {
  it('puts failing tests, lint findings and regressions on local files, 0-based, with their source', function () {
    const findings = gateFindings(result);
    assert.deepEqual(
      findings.map((f) => [path.relative(workspace, f.file), f.line, f.column, f.source, f.severity, f.code]),
      [
        ['py/test_calc.py', 12, 0, 'Sandboxes L0', 'error', 'calc::test_halve'],
        ['js/a.js', 1, 4, 'Sandboxes L0', 'warning', 'eslint'],
        ['py/test_calc.py', 12, 0, 'Sandboxes L1', 'error', 'calc::test_halve'],
      ],
    );
    assert.match(findings[0]!.message, /test_halve: assert 2.6 == 4/);
    assert.equal(findings[0]!.details, 'test_halve\ntrace');
  });

  it('never points outside the workspace', function () {
    assert.equal(workspaceFile(workspace, { path: '../x', line: 1 }), undefined);
    assert.equal(workspaceFile(workspace, { path: '/etc/passwd', line: 1 }), undefined);
    assert.equal(workspaceFile(workspace, { path: 'a/../../x', line: 1 }), undefined);
    assert.equal(workspaceFile(workspace, { path: 'a/b.py', line: 1 }), path.join(workspace, 'a/b.py'));
  });

  it('lists every test of the run for the Testing view, with its local file when it has one', function () {
    const tests = gateTests(result);
    assert.equal(tests.length, 3);
    assert.equal(tests[0]!.file, path.join(workspace, 'py/test_calc.py'));
    assert.equal(tests[2]!.file, undefined);
  });
});
