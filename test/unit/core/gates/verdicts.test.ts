import * as assert from 'node:assert/strict';
import type { CheckOutcome, ChecksRun } from '../../../../src/core/gates/checks';
import type { TestCaseResult } from '../../../../src/core/gates/types';
import { judgeL0 } from '../../../../src/core/gates/verdicts';

const test = (id: string, status: TestCaseResult['status']): TestCaseResult => ({ id, name: id, status });
function run(tests: TestCaseResult[], check: Partial<CheckOutcome> = {}): ChecksRun {
  const outcome: CheckOutcome = {
    name: 'suite',
    kind: 'test',
    exitCode: tests.some((t) => t.status === 'failed') ? 1 : 0,
    timedOut: false,
    durationMs: 10,
    lastOutput: [],
    report: { format: 'junit', tests, problems: [] },
    ...check,
  };
  return { checks: [outcome], tests: outcome.report?.tests ?? [], findings: [], durationMs: 10 };
}

describe('L0 verdict', function () {
  it('passes a run whose tests pass', function () {
    assert.equal(judgeL0(run([test('a', 'passed'), test('b', 'skipped')])), undefined);
  });

  it('fails on a failing test, naming it, and counts every failure without the base', function () {
    const verdict = judgeL0(run([test('a', 'failed'), test('b', 'error')]))!;
    assert.match(verdict.reason, /^2 tests failed: a/);
    assert.deepEqual(
      verdict.tests.map((t) => t.id),
      ['a', 'b'],
    );
  });

  it('leaves out failures the base had too, and still fails on one that passed there', function () {
    const base = run([test('old', 'failed'), test('fine', 'passed')]);
    assert.equal(judgeL0(run([test('old', 'failed'), test('fine', 'passed')]), base), undefined);
    assert.match(judgeL0(run([test('old', 'failed'), test('fine', 'failed')]), base)!.reason, /1 test failed: fine/);
  });

  it('fails a check that could not be judged, and a check without report that exits non-zero unless it did on the base', function () {
    assert.match(judgeL0(run([], { problem: 'suite wrote no report at r.xml.' }))!.reason, /no report/);
    const bare = (exitCode: number, timedOut = false) => run([], { report: undefined, exitCode, timedOut });
    assert.match(judgeL0(bare(2))!.reason, /suite exited with 2/);
    assert.equal(judgeL0(bare(2), bare(2)), undefined);
    assert.match(judgeL0(bare(124, true), bare(124))!.reason, /ran past its timeout/);
  });
});
