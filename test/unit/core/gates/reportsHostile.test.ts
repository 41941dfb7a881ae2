import * as assert from 'node:assert/strict';
import { parseReport, REPORT_LIMITS } from '../../../../src/core/gates/reports/reports';
import { caseById, context } from './fixtures';

/** A JUnit report of one failed case whose failure text is `trace`. */
function junitWithTrace(trace: string, attributes = ''): string {
  const escaped = trace.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  return `<testsuites><testsuite name="s"><testcase classname="c" name="t"${attributes}><failure message="boom">${escaped}</failure></testcase></testsuite></testsuites>`;
}

describe('test reports from hostile code', () => {
  it('does not expand entities: an entity bomb stays a short literal and a DOCTYPE gives no power', function () {
    this.timeout(10_000);
    const bomb = [
      '<?xml version="1.0"?>',
      '<!DOCTYPE lolz [',
      ' <!ENTITY lol "lol">',
      ...Array.from({ length: 9 }, (_, level) => ` <!ENTITY lol${level + 1} "${`&lol${level === 0 ? '' : level};`.repeat(10)}">`),
      ']>',
      '<testsuites><testsuite name="s"><testcase classname="c" name="&lol9;"><failure message="&lol9;">&lol9;</failure></testcase></testsuite></testsuites>',
    ].join('\n');
    const started = Date.now();
    const report = parseReport('junit', bomb, context);
    assert.ok(Date.now() - started < 5_000, 'read in moments');
    assert.equal(report.tests.length, 1);
    assert.equal(report.tests[0].name, '&lol9;');
    assert.equal(report.tests[0].message, '&lol9;');
    assert.equal(report.tests[0].output, '&lol9;');
  });

  it('refuses a report with an external entity (XXE) without reading the file it names', () => {
    const xxe = `<?xml version="1.0"?>
<!DOCTYPE r [ <!ENTITY passwd SYSTEM "file:///etc/passwd"> ]>
<testsuites><testsuite name="s"><testcase classname="c" name="t"><failure>&passwd;</failure></testcase></testsuite></testsuites>`;
    const report = parseReport('junit', xxe, context);
    assert.deepEqual(report.tests, []);
    assert.match(report.problems[0], /^The JUnit report could not be read \(.+\); no test could be read from it\.$/);
    assert.doesNotMatch(JSON.stringify(report), /root:/);
  });

  it('gives no location for a path outside the workspace, with .. in it, or absolute elsewhere', () => {
    const escapes = [
      'File "/etc/passwd", line 1, in <module>',
      'File "/home/agent/workspace/../../../etc/passwd", line 3, in <module>',
      'File "/home/agent/workspace-other/a.py", line 3, in f',
      'File "../../etc/passwd", line 2, in <module>',
      'File "tests/../../../etc/passwd", line 2, in <module>',
      'File "C:\\\\Users\\\\x\\\\a.py", line 2, in <module>',
    ];
    for (const trace of escapes) {
      const report = parseReport('junit', junitWithTrace(`Traceback (most recent call last):\n  ${trace}\nValueError: x`), context);
      assert.equal(report.tests[0].location, undefined, trace);
    }
    const nodeEscapes = ['    at f (/etc/passwd:1:1)', '    at file:///etc/passwd:1:1', '    at g (../../etc/passwd:4:2)', '    at h (node:internal/fs:1:1)'];
    for (const trace of nodeEscapes) assert.equal(parseReport('junit', junitWithTrace(`Error: x\n${trace}`), context).tests[0].location, undefined, trace);
    for (const file of ['../../etc/passwd', '/etc/passwd', '/home/agent/workspace/../x.py']) {
      assert.equal(parseReport('junit', junitWithTrace('no frame', ` file="${file}" line="3"`), context).tests[0].location, undefined, file);
    }
  });

  it('maps paths inside the workspace: absolute, relative, file:// URLs, normalised, skipping library frames', () => {
    const located = (trace: string) => parseReport('junit', junitWithTrace(trace), context).tests[0].location;
    assert.deepEqual(located('Error: x\n    at f (file:///home/agent/workspace/src/a%20b.mjs:10:5)'), { path: 'src/a b.mjs', line: 10, column: 5 });
    assert.deepEqual(located('Error: x\n    at /home/agent/workspace/./src//c.js:7:1'), { path: 'src/c.js', line: 7, column: 1 });
    assert.deepEqual(located('Error: x\r\n    at file:///home/agent/workspace/test/e.test.mjs:3:4\r\n'), { path: 'test/e.test.mjs', line: 3, column: 4 });
    assert.deepEqual(
      located('Error: x\n    at lib (/home/agent/workspace/node_modules/chai/index.js:1:1)\n    at t (/home/agent/workspace/test/t.js:4:9)'),
      { path: 'test/t.js', line: 4, column: 9 },
      'a frame in node_modules is not where the user code failed',
    );
    assert.deepEqual(located('  File "/home/agent/workspace/a/../b.py", line 4, in f\nE: x'), { path: 'b.py', line: 4 });
    assert.deepEqual(parseReport('junit', junitWithTrace('x', ' file="./tests/test_a.py" line="0"'), context).tests[0].location, {
      path: 'tests/test_a.py',
      line: 1,
    });
  });

  it('refuses a report over 20 MB unread', () => {
    const huge = `<testsuites>${' '.repeat(REPORT_LIMITS.maxReportBytes)}</testsuites>`;
    for (const format of ['junit', 'tap', 'go-json'] as const) {
      const report = parseReport(format, huge, context);
      assert.deepEqual(report.tests, []);
      assert.match(report.problems[0], /larger than 20 MB, so it was not read/);
    }
    // Multi-byte characters count as their UTF-8 bytes.
    assert.match(parseReport('tap', 'é'.repeat(REPORT_LIMITS.maxReportBytes / 2 + 1), context).problems[0], /larger than 20 MB/);
  });

  it('keeps the first 20,000 test cases and counts the rest, same-named ones numbered quickly', () => {
    const cases = '<testcase classname="c" name="t"/>'.repeat(REPORT_LIMITS.maxTestCases + 5);
    const started = Date.now();
    const report = parseReport('junit', `<testsuite name="s">${cases}</testsuite>`, context);
    assert.ok(Date.now() - started < 5_000, 'ids are numbered in linear time');
    assert.equal(report.tests.length, REPORT_LIMITS.maxTestCases);
    assert.equal(new Set(report.tests.map((test) => test.id)).size, REPORT_LIMITS.maxTestCases);
    assert.equal(report.tests[REPORT_LIMITS.maxTestCases - 1].id, `c::t #${REPORT_LIMITS.maxTestCases}`);
    assert.deepEqual(report.problems, ['The report has more than 20000 test cases: only the first 20000 were read, 5 were left out.']);
    const tap = `TAP version 13\n${'ok - t\n'.repeat(REPORT_LIMITS.maxTestCases + 1)}1..${REPORT_LIMITS.maxTestCases + 1}\n`;
    assert.match(parseReport('tap', tap, context).problems[0], /only the first 20000 were read, 1 was left out/);
  });

  it('caps a message at 500 characters and an output at 8 KB, keeping its head and tail', () => {
    const trace = `HEAD\n${'x'.repeat(50_000)}\nTAIL`;
    const report = parseReport('junit', junitWithTrace(trace).replace('message="boom"', `message="${'m'.repeat(2_000)}"`), context);
    const [test] = report.tests;
    assert.equal(test.message?.length, 500);
    assert.ok(test.message?.endsWith('…'));
    assert.ok((test.output ?? '').length <= 8 * 1024);
    assert.ok(test.output?.startsWith('HEAD\n'));
    assert.ok(test.output?.endsWith('\nTAIL'));
    assert.match(test.output ?? '', /characters left out/);
  });

  it('strips escape sequences and control characters from names, messages and output', () => {
    const lines = [
      { Action: 'run', Package: 'p', Test: 'Test\u0007Bell' },
      { Action: 'output', Package: 'p', Test: 'Test\u0007Bell', Output: '    a_test.go:3: \u001b[31mred\u001b[0m \u001b]0;title\u0007done\r\n' },
      { Action: 'fail', Package: 'p', Test: 'Test\u0007Bell' },
    ];
    const [test] = parseReport('go-json', lines.map((line) => JSON.stringify(line)).join('\n'), context).tests;
    assert.deepEqual([test.id, test.message, test.output], ['p::TestBell', 'red done', '    a_test.go:3: red done']);
    const tap = parseReport('tap', 'TAP version 13\nnot ok 1 - a\u001b[2Jb\n  ---\n  message: "x\\u001b[1my"\n  ...\n1..1\n', context);
    assert.deepEqual([tap.tests[0].name, tap.tests[0].message], ['ab', 'xy']);
  });

  it('reports garbage go test lines as problems and reads the rest', () => {
    const lines = [
      '{"Action":"run","Package":"p","Test":"TestA"}',
      'not json at all',
      '{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.25}',
      '{"Action": ',
      '[1,2,3]',
      '{"Package":"p","Test":"TestB"}',
      '{"Action":"pass","Test":"TestC"}',
      '\u0000\u0001binary',
    ];
    const report = parseReport('go-json', lines.join('\n'), context);
    assert.deepEqual(report.tests, [{ id: 'p::TestA', name: 'TestA', suite: 'p', status: 'passed', durationMs: 250 }]);
    assert.deepEqual(report.problems, [
      'Line 2 of the go test output is not a test2json event: "not json at all".',
      'Line 4 of the go test output is not a test2json event: "{\\"Action\\": ".',
      'Line 5 of the go test output is not a test2json event: "[1,2,3]".',
      'Line 6 of the go test output is not a test2json event: "{\\"Package\\":\\"p\\",\\"Test\\":\\"TestB\\"}".',
      'Line 7 of the go test output names no package.',
      'Line 8 of the go test output is not a test2json event: "\\u0000\\u0001binary".',
    ]);
  });

  it('lists at most 50 problems and counts the others', () => {
    const report = parseReport('go-json', 'garbage\n'.repeat(1_000), context);
    assert.equal(report.problems.length, 51);
    assert.equal(report.problems[50], '950 more problems were found and not listed.');
  });

  it('keeps ids unique even when a name looks like a duplicate suffix', () => {
    const cases = ['a #2', 'a', 'a', 'a'].map((name) => `<testcase name="${name}"/>`).join('');
    const report = parseReport('junit', `<testsuite>${cases}</testsuite>`, context);
    assert.deepEqual(
      report.tests.map((test) => test.id),
      ['a #2', 'a', 'a #3', 'a #4'],
    );
    assert.equal(new Set(report.tests.map((test) => test.id)).size, report.tests.length);
  });

  it('refuses TAP subtests nested more than 64 levels deep, which would take tap-parser minutes', function () {
    this.timeout(10_000);
    const nested = (depth: number): string => {
      const lines = ['TAP version 13'];
      for (let level = 0; level < depth; level++) lines.push(`${'    '.repeat(level)}# Subtest: s${level}`);
      lines.push(`${'    '.repeat(depth)}not ok 1 - leaf`, `${'    '.repeat(depth)}1..1`);
      for (let level = depth - 1; level >= 0; level--) lines.push(`${'    '.repeat(level)}not ok 1 - s${level}`, `${'    '.repeat(level)}1..1`);
      return lines.join('\n');
    };
    const deep = parseReport('tap', nested(500), context);
    assert.deepEqual(deep, { format: 'tap', tests: [], problems: ['The TAP stream nests subtests more than 64 levels deep, so it was not read.'] });
    const [leaf] = parseReport('tap', nested(64), context).tests;
    assert.equal(leaf.name, 'leaf');
    assert.equal(leaf.suite?.split(' > ').length, 64);
  });

  it('survives a YAML alias bomb in TAP diagnostics', () => {
    const yaml = ['  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    'bcdefghi'.split('').forEach((name, index) => yaml.push(`  ${name}: &${name} [${`*${'abcdefghi'[index]},`.repeat(9).slice(0, -1)}]`));
    const report = parseReport('tap', ['TAP version 13', 'not ok 1 - bomb', '  ---', ...yaml, '  ...', '1..1'].join('\n'), context);
    assert.equal(report.tests.length, 1);
    assert.equal(caseById(report, 'bomb').status, 'failed');
    assert.ok((caseById(report, 'bomb').output ?? '').length <= 8 * 1024);
  });
});
