import * as assert from 'node:assert/strict';
import { browserCommand } from '../../../src/cli/openBrowser';

describe('opening a URL in the browser', () => {
  const url = 'http://127.0.0.1:8000/tree?token=abc&x=1';
  it('uses each platform own opener, the URL one argument', () => {
    assert.deepEqual(browserCommand(url, 'linux'), ['xdg-open', [url]]);
    assert.deepEqual(browserCommand(url, 'darwin'), ['open', [url]]);
    assert.deepEqual(browserCommand(url, 'win32'), ['cmd', ['/c', 'start', '""', 'http://127.0.0.1:8000/tree?token=abc^&x=1']]);
  });
});
