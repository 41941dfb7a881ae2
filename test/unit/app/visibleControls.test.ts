import * as assert from 'node:assert/strict';
import { visibleControls } from '../../../src/app/format';

describe('text from a sandbox on a terminal', function () {
  it('shows every control character but newline and tab as an escape', function () {
    assert.equal(visibleControls('a\tb\nc'), 'a\tb\nc');
    assert.equal(visibleControls('ok\x1b[1A\x1b[2Khidden\rover\x07'), 'ok\\x1b[1A\\x1b[2Khidden\\x0dover\\x07');
    assert.equal(visibleControls('\x9b2J é'), '\\x9b2J é');
  });
});
