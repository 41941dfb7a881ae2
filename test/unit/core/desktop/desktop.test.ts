import * as assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { viewerCsp, viewerPage } from '../../../../src/core/desktop/viewerPage';
import { encodePng } from '../../../../src/core/desktop/png';
import { isSandboxError } from '../../../../src/core/errors';
import { parseGeometry } from '../../../../src/core/profile';

describe('the desktop viewer page', function () {
  const page = viewerPage({
    scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/viewer.js',
    styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/media/viewer.css',
    cspSource: 'https://*.vscode-cdn.net',
    nonce: 'n0nce',
    config: { transport: 'vscode', sandbox: 'a</script><b>', viewOnly: true },
  });
  const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(page)![1]!.replace(/&#39;/g, "'");

  it('allows no eval, no inline script and no remote source', function () {
    assert.doesNotMatch(csp, /unsafe-eval|unsafe-inline|\*(?!\.vscode-cdn\.net)|http:/);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-n0nce'(;|$)/);
    assert.match(csp, /connect-src 'none'/);
    assert.match(page, /<script type="module" nonce="n0nce" src="https:\/\/file\+\.vscode-resource/);
    const scripts = page.match(/<script[^>]*>/g)!;
    assert.deepEqual(
      scripts.map((tag) => /nonce=|type="application\/json"/.test(tag)),
      [true, true],
      'every script is nonced or data',
    );
  });

  it('keeps page text from closing its config element or adding markup', function () {
    assert.ok(!page.includes('a</script><b>'));
    assert.match(page, /"sandbox":"a\\u003c\/script>\\u003cb>"/);
  });

  it('lets the served page connect to its own WebSocket only', function () {
    const served = viewerCsp({ cspSource: "'self'", connectSources: ['ws://127.0.0.1:4000/vnc'], nonce: 'x' });
    assert.match(served, /connect-src ws:\/\/127\.0\.0\.1:4000\/vnc(;|$)/);
  });
});

describe('desktop sizes and screenshots', function () {
  it('takes WIDTHxHEIGHT within bounds and refuses the rest in one sentence', function () {
    assert.deepEqual(parseGeometry('1280x800'), [1280, 800]);
    for (const bad of ['1280', '100x100', '1280x800x24', '99999x1', 'wide']) {
      assert.throws(
        () => parseGeometry(bad),
        (error: unknown) => isSandboxError(error, 'invalid-input') && /like 1280x800\.$/.test(error.message),
      );
    }
  });

  it('writes a PNG whose pixels read back the same', function () {
    const width = 3;
    const height = 2;
    const rgb = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const png = encodePng(width, height, rgb);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(png.readUInt32BE(16), width);
    assert.equal(png.readUInt32BE(20), height);
    // IDAT follows IHDR (8 signature + 25 IHDR bytes)
    const idatLength = png.readUInt32BE(33);
    assert.equal(png.subarray(37, 41).toString('latin1'), 'IDAT');
    const rows = inflateSync(png.subarray(41, 41 + idatLength));
    assert.deepEqual([...rows], [0, ...rgb.subarray(0, 9), 0, ...rgb.subarray(9)]);
    assert.equal(png.subarray(-8, -4).toString('latin1'), 'IEND');
  });
});
