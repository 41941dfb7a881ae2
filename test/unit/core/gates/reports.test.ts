import * as assert from 'node:assert/strict';
import { GO_PACKAGE_CASE_NAME, parseReport } from '../../../../src/core/gates/reports/reports';
import { caseById, context, counts, fixture } from './fixtures';

describe('test reports', () => {
  describe('JUnit XML', () => {
    it("reads pytest's default report: statuses, durations, messages, the innermost frame in the workspace", () => {
      const report = parseReport('junit', fixture('pytest-junit.xml'), context);
      assert.deepEqual(report.problems, []);
      assert.equal(report.format, 'junit');
      assert.deepEqual(counts(report), { passed: 2, failed: 3, error: 1, skipped: 2 });

      assert.deepEqual(caseById(report, 'tests.test_calc::test_divide'), {
        id: 'tests.test_calc::test_divide',
        name: 'test_divide',
        suite: 'tests.test_calc',
        status: 'passed',
        durationMs: 1,
      });
      const zero = caseById(report, 'tests.test_calc::test_divide_by_zero_message');
      assert.equal(zero.status, 'failed');
      assert.equal(zero.message, 'ZeroDivisionError: division by zero');
      assert.match(zero.output ?? '', /^def test_divide_by_zero_message\(\):\n>\s+assert divide\(1, 0\) == 0/, 'entities are decoded (&gt;)');
      assert.deepEqual(zero.location, { path: 'app/calc.py', line: 2 }, "pytest's long traceback: the deepest frame");

      const setup = caseById(report, 'tests.test_calc::test_query');
      assert.equal(setup.status, 'error');
      assert.equal(setup.message, 'failed on setup with "RuntimeError: database is not reachable"');
      assert.deepEqual(setup.location, { path: 'tests/test_calc.py', line: 25 });

      const multiline = caseById(report, 'tests.test_calc.TestPort::test_equal');
      assert.equal(multiline.message, "AssertionError: assert 80 == 81 + where 80 = parse_port('80')", 'a message is one line');

      const skipped = caseById(report, 'tests.test_calc::test_download');
      assert.equal(skipped.status, 'skipped');
      assert.equal(skipped.message, 'needs a network');
      assert.deepEqual(skipped.location, { path: 'tests/test_calc.py', line: 18 }, 'the absolute path in the skip text is mapped into the workspace');
      assert.equal(caseById(report, 'tests.test_calc::test_rounding').message, 'known rounding bug', 'an xfail is a skip');
    });

    it('reads file and line attributes (pytest xunit1, 0-based) and Python tracebacks, ignoring frames outside the workspace', () => {
      const report = parseReport('junit', fixture('pytest-xunit1-native.xml'), context);
      assert.deepEqual(report.problems, []);
      assert.deepEqual(counts(report), { passed: 2, failed: 3, error: 1, skipped: 2 });
      assert.deepEqual(caseById(report, 'tests.test_calc::test_divide').location, { path: 'tests/test_calc.py', line: 6 });
      // The failing line in the test's own file, not its `def` line and not a frame of pytest's in site-packages.
      assert.deepEqual(caseById(report, 'tests.test_calc::test_divide_by_zero_message').location, { path: 'tests/test_calc.py', line: 11 });
      assert.deepEqual(caseById(report, 'tests.test_calc::test_query').location, { path: 'tests/test_calc.py', line: 25 });
      const failed = caseById(report, 'tests.test_calc::test_parse_port_range');
      assert.ok((failed.output ?? '').endsWith('ValueError: port out of range: 70000'), 'the end of a long trace is kept');
      assert.ok((failed.output ?? '').length <= 8 * 1024);
    });

    it("reads Node's JUnit reporter: test cases outside any suite and in nested suites, millisecond durations", () => {
      const report = parseReport('junit', fixture('node-test-junit.xml'), context);
      assert.deepEqual(report.problems, []);
      assert.deepEqual(counts(report), { passed: 2, failed: 3, error: 0, skipped: 2 });
      const lowercases = caseById(report, 'test::slugify lowercases');
      assert.equal(lowercases.durationMs, 6.43);
      const rejects = caseById(report, 'test::slugify rejects numbers');
      assert.equal(rejects.message, 'slugify expects a string');
      assert.deepEqual(rejects.location, { path: 'lib/slug.js', line: 3, column: 39 }, 'the innermost Node frame in the workspace');
      assert.deepEqual(caseById(report, 'test::inner fails').location, { path: 'test/slug.test.js', line: 25, column: 12 });
      assert.equal(caseById(report, 'test::emoji').status, 'skipped', 'a todo is a skip');
    });

    it("reads mocha's xunit reporter: character references, relative stack paths, a file without a line", () => {
      const report = parseReport('junit', fixture('mocha-xunit.xml'), context);
      assert.deepEqual(report.problems, []);
      assert.deepEqual(counts(report), { passed: 1, failed: 3, error: 0, skipped: 1 });
      const dashes = caseById(report, 'slugify::keeps dashes');
      assert.equal(dashes.message, 'Expected values to be strictly equal:');
      assert.match(dashes.output ?? '', /'a---b' !== 'a-b'/);
      assert.match(dashes.output ?? '', /at Context\.<anonymous> \(spec\/slug\.spec\.js:10:12\)/);
      assert.deepEqual(dashes.location, { path: 'spec/slug.spec.js', line: 10, column: 12 });
      assert.deepEqual(
        caseById(report, 'slugify::rejects numbers').location,
        { path: 'spec/slug.spec.js', line: 13, column: 5 },
        "the frame in the case's own file",
      );
      assert.equal(caseById(report, 'slugify with options::takes a separator').status, 'failed');
    });

    it('takes relative paths in a report from the folder the check ran in', () => {
      const report = parseReport('junit', fixture('pytest-junit.xml'), { ...context, cwd: 'backend' });
      assert.deepEqual(caseById(report, 'tests.test_calc::test_divide_by_zero_message').location, { path: 'backend/app/calc.py', line: 2 });
      assert.deepEqual(caseById(report, 'tests.test_calc::test_download').location, { path: 'tests/test_calc.py', line: 18 }, 'absolute paths are not moved');
    });

    it('reads a pytest collection error as an error case pointing at the module that failed to import', () => {
      const report = parseReport('junit', fixture('pytest-collection-error.xml'), context);
      assert.deepEqual(report.problems, []);
      const [broken] = report.tests;
      assert.deepEqual(
        [broken.id, broken.status, broken.message, broken.location],
        ['pytest::tests2.test_broken', 'error', 'collection failure', { path: 'tests2/test_broken.py', line: 1 }],
      );
      assert.match(broken.output ?? '', /ModuleNotFoundError: No module named 'nonexistent_module'$/);
    });

    it('reads a bare <testsuite> (Surefire), <error> and <skipped> with messages, CDATA, system-out, duplicate names', () => {
      const xml = `<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.example.CalcTest" tests="4" failures="0" errors="1" skipped="1" time="1,234.5">
  <testcase name="adds" classname="com.example.CalcTest" time="0.012"/>
  <testcase name="adds" classname="com.example.CalcTest" time="0.003"/>
  <testcase name="divides" classname="com.example.CalcTest" time="1,200.5">
    <error message="/ by zero" type="java.lang.ArithmeticException"><![CDATA[java.lang.ArithmeticException: / by zero
	at com.example.Calc.divide(Calc.java:12)]]></error>
    <system-out><![CDATA[dividing <1> by 0]]></system-out>
  </testcase>
  <testcase name="rounds" classname="com.example.CalcTest"><skipped message="not yet"/></testcase>
</testsuite>`;
      const report = parseReport('junit', xml, context);
      assert.deepEqual(report.problems, []);
      assert.deepEqual(
        report.tests.map((test) => test.id),
        ['com.example.CalcTest::adds', 'com.example.CalcTest::adds #2', 'com.example.CalcTest::divides', 'com.example.CalcTest::rounds'],
      );
      const divides = caseById(report, 'com.example.CalcTest::divides');
      assert.equal(divides.status, 'error');
      assert.equal(divides.durationMs, 1_200_500);
      assert.equal(divides.message, '/ by zero');
      assert.equal(divides.output, 'java.lang.ArithmeticException: / by zero\n\tat com.example.Calc.divide(Calc.java:12)\ndividing <1> by 0');
      assert.equal(divides.location, undefined, 'a Java frame names no file path');
      assert.equal(caseById(report, 'com.example.CalcTest::rounds').message, 'not yet');
    });

    it('takes a report with no test case as valid', () => {
      assert.deepEqual(parseReport('junit', '<?xml version="1.0"?><testsuites name="none"/>', context), { format: 'junit', tests: [], problems: [] });
      assert.deepEqual(parseReport('junit', '<testsuite name="empty" tests="0"></testsuite>', context).tests, []);
      assert.deepEqual(parseReport('junit', '<testsuites></testsuites>', context), { format: 'junit', tests: [], problems: [] });
    });

    it('says when the text is not JUnit XML', () => {
      const broken = parseReport('junit', '<testsuites><testsuite name="a"><testcase name="x">', context);
      assert.deepEqual(broken.tests, []);
      assert.match(broken.problems[0], /^The JUnit report is not well-formed XML \(line 1: .*\); no test could be read from it\.$/);
      const other = parseReport('junit', '<html><body>hello</body></html>', context);
      assert.deepEqual(other.tests, []);
      assert.match(other.problems[0], /is not a JUnit report/);
      assert.match(parseReport('junit', '', context).problems[0], /not well-formed XML/);
    });
  });

  describe('TAP', () => {
    it("reads Node's TAP reporter: YAML diagnostics, subtests, skip and todo, durations", () => {
      const report = parseReport('tap', fixture('node-test.tap'), context);
      assert.deepEqual(report.problems, []);
      assert.deepEqual(counts(report), { passed: 2, failed: 3, error: 0, skipped: 2 });
      assert.deepEqual(
        report.tests.map((test) => test.id),
        ['slugify lowercases', 'slugify keeps dashes', 'slugify rejects numbers', 'unicode', 'emoji', 'nested::inner passes', 'nested::inner fails'],
        "a suite whose failure is its subtest's is not a test of its own",
      );
      const dashes = caseById(report, 'slugify keeps dashes');
      assert.equal(dashes.durationMs, 1.928869);
      assert.equal(dashes.message, "Expected values to be strictly equal: 'a---b' !== 'a-b'");
      assert.match(dashes.output ?? '', /expected: a-b\nactual: a---b/);
      assert.match(dashes.output ?? '', /TestContext\.<anonymous> \(\/home\/agent\/workspace\/test\/slug\.test\.js:11:10\)/);
      assert.deepEqual(dashes.location, { path: 'test/slug.test.js', line: 11, column: 10 }, 'the stack beats the declared location');
      assert.deepEqual(caseById(report, 'slugify rejects numbers').location, { path: 'lib/slug.js', line: 3, column: 39 });
      const inner = caseById(report, 'nested::inner fails');
      assert.equal(inner.suite, 'nested');
      assert.deepEqual(inner.location, { path: 'test/slug.test.js', line: 25, column: 12 });
      assert.equal(caseById(report, 'unicode').message, 'not supported yet');
      assert.deepEqual([caseById(report, 'emoji').status, caseById(report, 'emoji').message], ['skipped', 'TODO: later']);
    });

    it("reads Node's TAP for a test file that fails to load: one failed test named by the file", () => {
      const report = parseReport('tap', fixture('node-test-load-error.tap'), context);
      assert.deepEqual(report.problems, []);
      assert.equal(report.tests.length, 1);
      const [file] = report.tests;
      assert.deepEqual(
        [file.id, file.status, file.message, file.location],
        ['/home/agent/workspace/test3/broken.test.js', 'failed', 'test failed', { path: 'test3/broken.test.js', line: 1, column: 1 }],
      );
    });

    it("reads mocha's TAP reporter: the trace printed after a failed test point", () => {
      const report = parseReport('tap', fixture('mocha.tap'), context);
      assert.deepEqual(report.problems, []);
      assert.deepEqual(counts(report), { passed: 1, failed: 3, error: 0, skipped: 1 });
      const rejects = caseById(report, 'slugify rejects numbers');
      assert.equal(rejects.message, 'slugify expects a string');
      assert.match(rejects.output ?? '', /TypeError: slugify expects a string\n\s+at slugify \(lib\/slug\.js:3:39\)/);
      assert.deepEqual(rejects.location, { path: 'lib/slug.js', line: 3, column: 39 });
      assert.equal(caseById(report, 'slugify handles unicode').message, undefined, "mocha's `# SKIP -` has no reason");
    });

    it("reads TAP 14 with node-tap's `at`, a suite that failed by itself, a bail out and a short plan", () => {
      const tap = [
        'TAP version 14',
        '# Subtest: parser',
        '    not ok 1 - rejects empty input',
        '      ---',
        '      message: should throw',
        '      at:',
        '        file: test/parser.test.js',
        '        line: 8',
        '        column: 5',
        '      stack: |',
        '        Test.<anonymous> (test/parser.test.js:8:5)',
        '      ...',
        '    1..1',
        'not ok 1 - parser # time=3.5ms',
        '# Subtest: db',
        '    1..0',
        'not ok 2 - db',
        '  ---',
        '  message: before hook failed',
        '  ...',
        'ok 3 - plain',
        'ok 4 - plain',
        'Bail out! database down',
        '1..6',
      ].join('\n');
      const report = parseReport('tap', tap, context);
      assert.deepEqual(
        report.tests.map((test) => [test.id, test.status]),
        [
          ['parser::rejects empty input', 'failed'],
          ['db', 'error'],
          ['plain', 'passed'],
          ['plain #2', 'passed'],
        ],
      );
      const rejects = caseById(report, 'parser::rejects empty input');
      assert.equal(rejects.message, 'should throw');
      assert.deepEqual(rejects.location, { path: 'test/parser.test.js', line: 8, column: 5 });
      assert.equal(caseById(report, 'db').message, 'before hook failed');
      assert.ok(report.problems.some((problem) => /bailed out \(database down\)/.test(problem)));
    });

    it('takes an empty plan as valid and says when there is no plan at all', () => {
      assert.deepEqual(parseReport('tap', 'TAP version 13\n1..0\n', context), { format: 'tap', tests: [], problems: [] });
      const cut = parseReport('tap', 'TAP version 13\nok 1 - a\n', context);
      assert.equal(cut.tests.length, 1);
      assert.match(cut.problems[0], /no plan/);
      const short = parseReport('tap', 'TAP version 13\n1..3\nok 1 - a\nnot ok 2 - b\n', context);
      assert.deepEqual(short.problems, ['The TAP plan announced 3 tests but 2 were reported: the run may have been cut short.']);
      const notTap = parseReport('tap', 'Error: Cannot find module ./setup\n    at Module._resolveFilename\n', context);
      assert.deepEqual(notTap.tests, []);
      assert.match(notTap.problems[0], /no plan and no test point: it is not TAP output/);
    });
  });

  describe('go test -json', () => {
    it('reads passes, failures, skips, subtests and a panic; output is what the test printed', () => {
      const report = parseReport('go-json', fixture('go-test.jsonl'), context);
      assert.deepEqual(report.problems, []);
      assert.deepEqual(counts(report), { passed: 3, failed: 4, error: 0, skipped: 1 });
      assert.deepEqual(
        report.tests.map((test) => test.id),
        [
          'example.com/shop/calc::TestDivide',
          'example.com/shop/calc::TestDivideByZero',
          'example.com/shop/calc::TestNetwork',
          'example.com/shop/calc::TestTable',
          'example.com/shop/calc::TestTable/4/2',
          'example.com/shop/calc::TestTable/9/3',
          'example.com/shop/calc::TestPanics',
          'example.com/shop/util::TestTwice',
        ],
      );
      const zero = caseById(report, 'example.com/shop/calc::TestDivideByZero');
      assert.equal(zero.suite, 'example.com/shop/calc');
      assert.equal(zero.message, 'Divide(1, 0) = 0, want -1');
      assert.equal(zero.output, 'dividing by zero\n    calc_test.go:19: Divide(1, 0) = 0, want -1');
      assert.deepEqual(zero.location, { path: 'calc_test.go', line: 19 }, "relative to the package's folder, as Go prints it");
      assert.equal(caseById(report, 'example.com/shop/calc::TestNetwork').message, 'needs a network');
      assert.equal(caseById(report, 'example.com/shop/calc::TestTable/9/3').message, 'got 3, want 4');
      const panics = caseById(report, 'example.com/shop/calc::TestPanics');
      assert.equal(panics.message, 'assignment to entry in nil map [recovered]');
      assert.deepEqual(panics.location, { path: 'gosrc/calc/calc_test.go', line: 41 }, "the panic's frame in the workspace, not Go's own");
      assert.equal(caseById(report, 'example.com/shop/util::TestTwice').durationMs, 0);

      // Run from gosrc/: the panic's absolute path is the same, the test log's name stays bare (its package's folder is not known).
      const fromGosrc = parseReport('go-json', fixture('go-test.jsonl'), { ...context, cwd: 'gosrc' });
      assert.deepEqual(caseById(fromGosrc, 'example.com/shop/calc::TestDivideByZero').location, { path: 'calc_test.go', line: 19 });
      assert.deepEqual(caseById(fromGosrc, 'example.com/shop/calc::TestPanics').location, { path: 'gosrc/calc/calc_test.go', line: 41 });
    });

    it('reports a package that did not build or whose TestMain failed as a case of its own', () => {
      const report = parseReport('go-json', fixture('go-test-build.jsonl'), context);
      assert.deepEqual(report.problems, []);
      const broken = caseById(report, `example.com/shop/broken::${GO_PACKAGE_CASE_NAME}`);
      assert.deepEqual([broken.status, broken.message], ['error', 'The package did not build.']);
      const setup = caseById(report, `example.com/shop/setup::${GO_PACKAGE_CASE_NAME}`);
      assert.deepEqual([setup.status, setup.message, setup.durationMs], ['error', 'cannot reach the database', 9]);
      assert.equal(caseById(report, 'example.com/shop/util::TestTwice').status, 'passed');
    });

    it('reads the Go 1.24 build events and a test cut short by the end of the output', () => {
      const lines = [
        { Action: 'build-output', ImportPath: 'example.com/shop/broken [example.com/shop/broken.test]', Output: '# example.com/shop/broken\n' },
        { Action: 'build-output', ImportPath: 'example.com/shop/broken [example.com/shop/broken.test]', Output: 'broken/broken.go:5:1: syntax error\n' },
        { Action: 'build-fail', ImportPath: 'example.com/shop/broken [example.com/shop/broken.test]' },
        { Action: 'start', Package: 'example.com/shop/broken' },
        { Action: 'output', Package: 'example.com/shop/broken', Output: 'FAIL\texample.com/shop/broken [build failed]\n' },
        { Action: 'fail', Package: 'example.com/shop/broken', Elapsed: 0, FailedBuild: 'example.com/shop/broken [example.com/shop/broken.test]' },
        { Action: 'run', Package: 'example.com/shop/slow', Test: 'TestSlow' },
        { Action: 'output', Package: 'example.com/shop/slow', Test: 'TestSlow', Output: '=== RUN   TestSlow\n' },
      ];
      const report = parseReport('go-json', lines.map((line) => JSON.stringify(line)).join('\n'), context);
      assert.deepEqual(report.problems, []);
      assert.deepEqual(
        report.tests.map((test) => test.id),
        [`example.com/shop/broken::${GO_PACKAGE_CASE_NAME}`, 'example.com/shop/slow::TestSlow'],
        'the build events and the package events make one case',
      );
      const broken = caseById(report, `example.com/shop/broken::${GO_PACKAGE_CASE_NAME}`);
      assert.equal(broken.message, 'The package did not build.');
      assert.deepEqual(broken.location, { path: 'broken/broken.go', line: 5, column: 1 });
      assert.match(broken.output ?? '', /^# example\.com\/shop\/broken\nbroken\/broken\.go:5:1: syntax error\nFAIL/);
      const slow = caseById(report, 'example.com/shop/slow::TestSlow');
      assert.deepEqual([slow.status, slow.message], ['error', 'The test did not finish: the test binary stopped while it ran.']);
    });

    it('says when a package could not be set up, and when it failed with nothing printed', () => {
      const text = [
        'FAIL\texample.com/shop/cycle [setup failed]',
        JSON.stringify({ Action: 'output', Package: 'example.com/shop/quiet', Output: 'FAIL\texample.com/shop/quiet\t0.003s\n' }),
        JSON.stringify({ Action: 'fail', Package: 'example.com/shop/quiet', Elapsed: 0.003 }),
      ].join('\n');
      const report = parseReport('go-json', text, context);
      assert.deepEqual(report.problems, []);
      assert.deepEqual(
        report.tests.map((test) => [test.id, test.status, test.message]),
        [
          [`example.com/shop/cycle::${GO_PACKAGE_CASE_NAME}`, 'error', 'The package could not be set up for testing (an import cycle, a missing dependency).'],
          [`example.com/shop/quiet::${GO_PACKAGE_CASE_NAME}`, 'error', 'The package failed outside its tests (TestMain or an init function).'],
        ],
      );
    });

    it('takes an empty output as a valid report with no test', () => {
      assert.deepEqual(parseReport('go-json', '', context), { format: 'go-json', tests: [], problems: [] });
    });
  });
});
