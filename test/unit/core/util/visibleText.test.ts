import * as assert from 'node:assert/strict';
import { formatLogEntry } from '../../../../src/app/format';
import { visibleLine, visibleText } from '../../../../src/core/util/visibleText';

describe('hostile text made visible', function () {
  it('shows controls, line separators and bidi overrides as escapes, and keeps tab, newline and other text', function () {
    assert.equal(visibleText('a\tb\nc é 日本'), 'a\tb\nc é 日本');
    assert.equal(visibleText('ok\x1b]0;title\x07\x1b[2K\rover'), 'ok\\x1b]0;title\\x07\\x1b[2K\\x0dover');
    assert.equal(visibleText('\x9b2J\x7f'), '\\x9b2J\\x7f');
    assert.equal(visibleText('one\u2028two\u2029three'), 'one\\u2028two\\u2029three');
    assert.equal(visibleText('abc\u202edcba\u202c \u2066x\u2069 \u200f\u061c'), 'abc\\u202edcba\\u202c \\u2066x\\u2069 \\u200f\\u061c');
  });

  it('is stable: made visible twice, text reads the same', function () {
    const once = visibleText('\x1b[31mred\u202e');
    assert.equal(visibleText(once), once);
  });

  it('cuts a line past its bound and says so', function () {
    assert.equal(visibleLine('x'.repeat(10), 10), 'x'.repeat(10));
    assert.equal(visibleLine('x'.repeat(11), 10), `${'x'.repeat(10)}…`);
  });

  it("prints a container's own log line visible, not raw", function () {
    const line = formatLogEntry({ time: '2026-12-06T06:00:00.000Z', source: 'sandbox', stream: 'stdout', text: 'hi\x1b[1A\x1b[2Kgone\u202e' });
    assert.equal(line, '2026-12-06 06:00:00Z  out   hi\\x1b[1A\\x1b[2Kgone\\u202e');
  });
});
