import * as assert from 'node:assert/strict';
import { defaultL1Rules, defaultL2Rules, type L2Rules } from '../../../../src/core/gates/config';
import { compareChecks, compareRuns, lintGrowth, needsPerson } from '../../../../src/core/gates/rules';
import type { FileChange, LintFinding, PatchStats, TestCaseResult, TestReport, TestStatus } from '../../../../src/core/gates/types';

const test = (name: string, status: TestStatus, durationMs?: number, extra: Partial<TestCaseResult> = {}): TestCaseResult => ({
  id: `suite::${name}`,
  name,
  suite: 'suite',
  status,
  ...(durationMs === undefined ? {} : { durationMs }),
  ...extra,
});
const report = (...tests: TestCaseResult[]): TestReport => ({ format: 'junit', tests, problems: [] });
const rules = defaultL1Rules();

describe('the gate rules', function () {
  describe('compareRuns', function () {
    it('finds nothing without a base run, or when nothing got worse', function () {
      assert.deepEqual(compareRuns(undefined, report(test('a', 'failed')), rules), []);
      assert.deepEqual(compareRuns(report(test('a', 'passed', 100)), report(test('a', 'passed', 120), test('new', 'failed')), rules), []);
    });

    it('counts a passing test that now fails, errors, vanishes or is skipped as a regression', function () {
      const base = report(
        test('fails', 'passed', 10),
        test('errors', 'passed'),
        test('deleted', 'passed', 5),
        test('skipped', 'passed', 5),
        test('kept', 'passed'),
      );
      const location = { path: 'src/a.test.ts', line: 12 };
      const now = report(
        test('fails', 'failed', 12, { message: 'expected 1 to equal 2\n    at stack', location }),
        test('errors', 'error', undefined, { message: 'TypeError: x is undefined' }),
        test('skipped', 'skipped', 0, { message: 'skipped: flaky' }),
        test('kept', 'passed'),
      );
      assert.deepEqual(compareRuns(base, now, rules), [
        {
          kind: 'regression',
          testId: 'suite::fails',
          message: 'The test "suite > fails" passed before this change and now fails: expected 1 to equal 2.',
          location,
          base: { status: 'passed', durationMs: 10 },
          now: { status: 'failed', durationMs: 12 },
        },
        {
          kind: 'regression',
          testId: 'suite::errors',
          message: 'The test "suite > errors" passed before this change and now ends in an error: TypeError: x is undefined.',
          base: { status: 'passed' },
          now: { status: 'error' },
        },
        {
          kind: 'removed',
          testId: 'suite::deleted',
          message: 'The test "suite > deleted" passed before this change and is no longer run (deleting a test counts as a regression).',
          base: { status: 'passed', durationMs: 5 },
        },
        {
          kind: 'disabled',
          testId: 'suite::skipped',
          message: 'The test "suite > skipped" passed before this change and is now skipped (skipped: flaky) (disabling a test counts as a regression).',
          base: { status: 'passed', durationMs: 5 },
          now: { status: 'skipped', durationMs: 0 },
        },
      ]);
    });

    it('leaves tests that already failed or were skipped on the base to L0', function () {
      const base = report(test('broken', 'failed'), test('errored', 'error'), test('off', 'skipped'));
      const now = report(test('broken', 'failed'), test('off', 'failed'));
      assert.deepEqual(compareRuns(base, now, rules), []);
    });

    it('finds slower tests past the factor, only above the minimum base duration', function () {
      const base = report(test('slow', 'passed', 200), test('tiny', 'passed', 199), test('borderline', 'passed', 1000), test('untimed', 'passed'));
      const now = report(test('slow', 'passed', 601), test('tiny', 'passed', 5000), test('borderline', 'passed', 3000), test('untimed', 'passed', 9999));
      const findings = compareRuns(base, now, rules);
      assert.deepEqual(findings, [
        {
          kind: 'slower',
          testId: 'suite::slow',
          message: 'The test "suite > slow" took 601 ms, more than 3 times its 200 ms before this change.',
          base: { status: 'passed', durationMs: 200 },
          now: { status: 'passed', durationMs: 601 },
        },
      ]);
      const strict = compareRuns(base, now, { ...rules, slowerFactor: 2, slowerMinMs: 100 });
      assert.deepEqual(
        strict.map((finding) => finding.testId),
        ['suite::slow', 'suite::tiny', 'suite::borderline'],
      );
    });

    it('skips regressions when l1.regressions is off, but still finds slower tests', function () {
      const base = report(test('gone', 'passed'), test('slow', 'passed', 1000));
      const now = report(test('slow', 'passed', 5000));
      assert.deepEqual(
        compareRuns(base, now, { ...rules, regressions: false }).map((finding) => finding.kind),
        ['slower'],
      );
    });

    it('judges a test reported twice by its worst outcome', function () {
      const base = report(test('twice', 'passed', 10), test('twice', 'passed', 20));
      const now = report(test('twice', 'passed', 10), test('twice', 'failed', 30));
      const [finding] = compareRuns(base, now, rules);
      assert.equal(finding?.kind, 'regression');
      assert.deepEqual(finding?.base, { status: 'passed', durationMs: 20 });
      assert.deepEqual(finding?.now, { status: 'failed', durationMs: 30 });
      const unsure = compareRuns(report(test('x', 'passed'), test('x', 'failed')), report(test('x', 'failed')), rules);
      assert.deepEqual(unsure, [], 'a test that also failed on the base is not a regression');
    });
  });

  describe('lintGrowth', function () {
    const lint = (check: string, pathName: string, line: number, message = 'problem'): LintFinding => ({ check, message, location: { path: pathName, line } });

    it('finds nothing when no check grew, even if findings moved or others shrank', function () {
      const base = [lint('no-unused-vars', 'a.ts', 1), lint('eqeqeq', 'b.ts', 2), lint('eqeqeq', 'b.ts', 9)];
      const now = [lint('no-unused-vars', 'a.ts', 7), lint('eqeqeq', 'c.ts', 3)];
      assert.equal(lintGrowth(base, now), undefined);
      assert.equal(lintGrowth([], []), undefined);
    });

    it('names each check whose count grew and points at a new finding', function () {
      const base = [lint('no-unused-vars', 'a.ts', 1), lint('E501', 'x.py', 1, 'line too long')];
      const now = [
        lint('no-unused-vars', 'a.ts', 1),
        lint('no-unused-vars', 'b.ts', 4, "'y' is unused"),
        lint('E501', 'x.py', 1, 'line too long'),
        lint('E711', 'x.py', 8),
      ];
      assert.deepEqual(lintGrowth(base, now), {
        kind: 'lint-growth',
        message: 'Lint findings grew with this change: E711 0 -> 1, no-unused-vars 1 -> 2.',
        lintCounts: [
          { check: 'E711', base: 0, now: 1 },
          { check: 'no-unused-vars', base: 1, now: 2 },
        ],
        location: { path: 'b.ts', line: 4 },
      });
    });
  });

  describe('compareChecks', function () {
    const lint = (check: string): LintFinding => ({ check, message: 'problem', location: { path: 'a.ts', line: 1 } });

    it('puts a regression first and the lint growth after it, and leaves growth out when the rules do', function () {
      const base = { tests: [test('adds', 'passed')], findings: [] };
      const now = { tests: [test('adds', 'failed')], findings: [lint('eqeqeq')] };
      assert.deepEqual(
        compareChecks(base, now, rules).map((finding) => finding.kind),
        ['regression', 'lint-growth'],
      );
      assert.deepEqual(
        compareChecks(base, now, { ...rules, lintGrowth: false }).map((finding) => finding.kind),
        ['regression'],
      );
      assert.deepEqual(compareChecks(base, base, rules), []);
    });
  });

  describe('needsPerson', function () {
    const change = (pathName: string, extra: Partial<FileChange> = {}): FileChange => ({
      path: pathName,
      kind: 'modified',
      type: 'file',
      binary: false,
      addedLines: 1,
      removedLines: 1,
      ...extra,
    });
    const stats = (addedLines: number, removedLines: number): PatchStats => ({ files: 1, addedLines, removedLines });
    const l2 = (extra: Partial<L2Rules> = {}): L2Rules => ({ ...defaultL2Rules(), ...extra });

    it('lets an ordinary change through', function () {
      assert.deepEqual(needsPerson([change('src/a.ts')], stats(1, 1), 'normal', l2({ paths: ['secrets/'], maxChangedLines: 10 })), {
        required: false,
        reasons: [],
      });
      assert.deepEqual(needsPerson([], stats(0, 0), 'high', l2()), { required: false, reasons: [] });
    });

    it('always holds changes to .sandboxes/, in any letter case and as a rename source', function () {
      for (const changes of [
        [change('.sandboxes/gates.json')],
        [change('.Sandboxes/gates.json')],
        [change('moved.json', { kind: 'added', renamedFrom: '.sandboxes/gates.json' })],
        [change('.sandboxes', { kind: 'deleted' })],
      ]) {
        const decision = needsPerson(changes, stats(1, 1), 'low', l2({ critical: false }));
        assert.equal(decision.required, true, changes[0]?.path);
        assert.match(decision.reasons[0] ?? '', /under \.sandboxes\/, where the gates live, which always needs a person\.$/);
      }
      assert.equal(needsPerson([change('docs/.sandboxes/x')], stats(1, 1), 'low', l2()).required, false, 'only the root .sandboxes/ holds the gates');
    });

    it('holds changes to paths matching the l2 patterns, gitignore style', function () {
      const rules = l2({ paths: ['src/auth/**', '*.sql', 'secrets/*', '!secrets/README.md'] });
      const decision = needsPerson(
        [change('src/auth/login.ts'), change('db/migrations/001.sql'), change('secrets/key.pem'), change('secrets/README.md'), change('src/app.ts')],
        stats(5, 5),
        'normal',
        rules,
      );
      assert.deepEqual(decision, {
        required: true,
        reasons: ['It changes src/auth/login.ts, db/migrations/001.sql, secrets/key.pem, matching the l2 paths that need a person.'],
      });
      const many = Array.from({ length: 12 }, (_, index) => change(`q/${index}.sql`));
      assert.match(needsPerson(many, stats(1, 1), 'normal', rules).reasons[0] ?? '', /q\/9\.sql and 2 more, matching/);
    });

    it('holds a change larger than l2.maxChangedLines, counting added and removed lines', function () {
      assert.equal(needsPerson([change('a')], stats(60, 40), 'normal', l2({ maxChangedLines: 100 })).required, false);
      assert.deepEqual(needsPerson([change('a')], stats(60, 41), 'normal', l2({ maxChangedLines: 100 })).reasons, [
        'It changes 101 lines, more than the 100 allowed without a person (l2.maxChangedLines).',
      ]);
    });

    it('holds critical tasks unless l2.critical is off, and gives every reason at once', function () {
      assert.deepEqual(needsPerson([change('a')], stats(1, 1), 'critical', l2()).reasons, [
        'The task has priority critical, whose changes always need a person.',
      ]);
      assert.equal(needsPerson([change('a')], stats(1, 1), 'critical', l2({ critical: false })).required, false);
      const all = needsPerson([change('.sandboxes/gates.json'), change('x.sql')], stats(500, 0), 'critical', l2({ paths: ['*.sql'], maxChangedLines: 10 }));
      assert.equal(all.reasons.length, 4);
    });
  });
});
