import * as assert from 'node:assert/strict';
import { FINDING_LIMITS, parseLintOutput } from '../../../../src/core/gates/reports/findings';
import { context, fixture } from './fixtures';

describe('lint findings', () => {
  it("reads ESLint's unix format: absolute paths mapped into the workspace, line and column", () => {
    const findings = parseLintOutput('eslint', fixture('eslint-unix.txt'), context);
    assert.equal(findings.length, 6, 'the "6 problems" summary is not a finding');
    assert.deepEqual(findings[0], {
      location: { path: 'lib/bad.js', line: 2, column: 10 },
      message: "'unused' is defined but never used. [Error/no-unused-vars]",
      check: 'eslint',
    });
    assert.deepEqual(findings[5].location, { path: 'lib/bad.js', line: 4, column: 19 });
  });

  it('reads ruff (concise and full) and flake8: relative paths stay relative', () => {
    const ruff = parseLintOutput('ruff', fixture('ruff-concise.txt'), context);
    assert.deepEqual(
      ruff.map((finding) => [finding.location.path, finding.location.line, finding.location.column, finding.message]),
      [
        ['app/messy.py', 1, 8, 'F401 [*] `os` imported but unused'],
        ['app/messy.py', 2, 8, 'F401 [*] `sys` imported but unused'],
        ['app/messy.py', 8, 5, 'F841 Local variable `unused` is assigned to but never used'],
      ],
    );
    assert.deepEqual(parseLintOutput('ruff', fixture('ruff-full.txt'), context), ruff, "ruff's full format gives the same findings");
    const flake8 = parseLintOutput('flake8', fixture('flake8.txt'), context);
    assert.equal(flake8.length, 4);
    assert.deepEqual(flake8[2], {
      location: { path: 'app/messy.py', line: 6, column: 14 },
      message: "E711 comparison to None should be 'if cond is None:'",
      check: 'flake8',
    });
  });

  it('reads go vet, its `vet: ` lines included, and skips the `# package` headers', () => {
    const findings = parseLintOutput('go vet', fixture('go-vet.txt'), context);
    assert.deepEqual(
      findings.map((finding) => `${finding.location.path}:${finding.location.line}:${finding.location.column} ${finding.message}`),
      [
        'vetme/vetme.go:11:30 loop variable i captured by func literal',
        'vetme/vetme.go:6:9 fmt.Sprintf format %s has arg n of wrong type int',
        'vetme/vetme.go:16:2 unreachable code',
        "broken/broken.go:5:1 expected operand, found '}'",
      ],
    );
  });

  it('takes relative paths from the folder the check ran in, never above the workspace', () => {
    const inGo = { ...context, cwd: 'gosrc' };
    assert.deepEqual(parseLintOutput('go vet', fixture('go-vet.txt'), inGo)[0].location, { path: 'gosrc/vetme/vetme.go', line: 11, column: 30 });
    const text = [
      '../shared/util.py:3:1: E1 up one, still inside',
      '../../outside.py:1:1: E2 above the workspace',
      '/home/agent/workspace/lib/a.js:1:1: E3 absolute',
    ].join('\n');
    assert.deepEqual(
      parseLintOutput('check', text, { ...context, cwd: 'backend' }).map((finding) => finding.location.path),
      ['shared/util.py', 'lib/a.js'],
    );
  });

  it('reads `path:line: message` lines without a column (mypy, pylint-like tools)', () => {
    const findings = parseLintOutput('mypy', 'src/app.py:12: error: Incompatible return value type\r\nFound 1 error in 1 file\n', context);
    assert.deepEqual(findings, [{ location: { path: 'src/app.py', line: 12 }, message: 'error: Incompatible return value type', check: 'mypy' }]);
  });

  it('drops findings whose path leaves the workspace and lines that are not findings', () => {
    const text = [
      '/etc/passwd:1:1: root',
      '../../etc/passwd:2:1: escape',
      '/home/agent/workspace/../secret.txt:3:1: escape',
      '/home/agent/workspace2/a.js:3:1: a sibling folder',
      'C:\\src\\a.js:1:1: a drive',
      '  src/a.js:1:1: indented context',
      'src/a.js:0:1: line zero',
      'src/a.js:x:1: no line',
      'src/\u001b[31ma.js:1:1: an escape sequence in the path',
      '',
      'src/ok.js:3:4:',
    ].join('\n');
    assert.deepEqual(parseLintOutput('check', text, context), [
      { location: { path: 'src/ok.js', line: 3, column: 4 }, message: '(no message)', check: 'check' },
    ]);
  });

  it('strips colour codes from messages', () => {
    assert.deepEqual(parseLintOutput('check', 'src/a.js:1:2: \u001b[33mwarning\u001b[39m  no-var\r\n', context)[0].message, 'warning no-var');
  });

  it('keeps at most 5,000 findings and caps each message', () => {
    const text = `src/a.js:1:1: ${'m'.repeat(2_000)}\n${'src/a.js:2:1: x\n'.repeat(FINDING_LIMITS.maxFindings + 10)}`;
    const findings = parseLintOutput('check', text, context);
    assert.equal(findings.length, FINDING_LIMITS.maxFindings);
    assert.equal(findings[0].message.length, 500);
  });
});
