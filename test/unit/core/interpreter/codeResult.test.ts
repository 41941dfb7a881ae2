import * as assert from 'node:assert/strict';
import { NO_KERNEL, UNRESPONSIVE, checkedPng, codeResultText, parseCodeResult, plainText, type CodeResult } from '../../../../src/core/interpreter/codeResult';
import { MAX_IMAGES, TEXT_CAP_CHARS } from '../../../../src/core/interpreter/kernelScript';
import { parseNotebookAnswer } from '../../../../src/core/interpreter/notebookServer';

/** A 1x1 PNG's first bytes: enough for the signature check. */
const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.from('\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0', 'latin1'),
]).toString('base64');

function parsed(line: unknown): CodeResult {
  const result = parseCodeResult(`${JSON.stringify(line)}\n`);
  assert.ok(result !== undefined && result !== NO_KERNEL && result !== UNRESPONSIVE, 'a result');
  return result;
}

describe('code interpreter results', () => {
  it('reads a result: output, value, images and the execution count', () => {
    const result = parsed({ status: 'ok', stdout: 'hi\n', stderr: '', results: '42\n', images: [PNG], imagesDropped: 0, truncated: false, executionCount: 3 });
    assert.deepEqual(result, {
      status: 'ok',
      stdout: 'hi\n',
      stderr: '',
      results: '42\n',
      images: [PNG],
      imagesDropped: 0,
      truncated: false,
      executionCount: 3,
    });
    assert.equal(codeResultText(result), 'hi\n42\n[1 image (PNG)]');
  });

  it('says when no kernel runs, and refuses what is not a result', () => {
    assert.equal(parseCodeResult('{"status": "no-kernel"}\n'), NO_KERNEL);
    assert.equal(parseCodeResult('{"status": "unresponsive"}'), UNRESPONSIVE);
    for (const garbage of ['', 'not json', '[]', 'null', '{"status": "fine"}', '{"stdout": "x"}']) assert.equal(parseCodeResult(garbage), undefined, garbage);
  });

  it('takes the last line, so stray output before it does no harm', () => {
    assert.equal(parsed(JSON.parse('{"status":"ok"}')).status, 'ok');
    assert.equal((parseCodeResult('noise\n{"status": "ok", "results": "1\\n"}\n') as CodeResult).results, '1\n');
  });

  it('strips terminal escapes from tracebacks and every text, keeping tab and newline', () => {
    const traceback = '\u001b[0;31m---> 1\u001b[0m 1/0\n\u001b[0;31mZeroDivisionError\u001b[0m: division by zero';
    const result = parsed({
      status: 'error',
      error: { name: 'ZeroDivisionError', value: 'division by zero', traceback },
      stdout: 'a\tb\u001b]0;title\u0007\u0007\n',
    });
    assert.equal(result.error?.traceback, '---> 1 1/0\nZeroDivisionError: division by zero');
    assert.equal(result.stdout, 'a\tb\n');
    assert.equal(plainText('x\u001b[2J\u001bcy\r\n'), 'xy\n');
    assert.match(codeResultText(result), /^a\tb\n---> 1 1\/0\nZeroDivisionError: division by zero$/);
  });

  it('cuts text at its cap and says so', () => {
    const result = parsed({ status: 'ok', stdout: 'x'.repeat(TEXT_CAP_CHARS + 10) });
    assert.equal(result.stdout.length, TEXT_CAP_CHARS);
    assert.equal(result.truncated, true);
    assert.match(codeResultText(result), /cut at 64 KiB/);
  });

  it('keeps only PNGs within the caps, counting the ones left out', () => {
    const notPng = Buffer.from('GIF89a, not a png at all here').toString('base64');
    const result = parsed({ status: 'ok', images: [PNG, notPng, 'not base64!', 42, ...Array(MAX_IMAGES).fill(PNG)], imagesDropped: 2 });
    assert.equal(result.images.length, 1);
    assert.equal(result.imagesDropped, 2 + MAX_IMAGES + 4 - 1);
    assert.equal(checkedPng(PNG), PNG);
    assert.equal(checkedPng('A'.repeat(2 * 1024 * 1024)), undefined);
    assert.equal(checkedPng(notPng), undefined);
    assert.match(codeResultText(result), /left out: at most 4 PNGs of up to 1 MiB each/);
  });

  it('ignores fields of the wrong type', () => {
    const result = parsed({ status: 'ok', stdout: 5, results: ['x'], images: 'x', imagesDropped: -3.5, executionCount: '7', error: 'boom' });
    assert.deepEqual(result, { status: 'ok', stdout: '', stderr: '', results: '', images: [], imagesDropped: 0, truncated: false });
    assert.equal(codeResultText(result), '(no output)');
  });

  it('says what a timeout, a dead kernel and a restarted one mean for the state', () => {
    assert.match(codeResultText(parsed({ status: 'timeout' })), /interrupted; the kernel keeps its state/);
    assert.match(codeResultText(parsed({ status: 'died' })), /its state is lost, and the next call starts a new one/);
    assert.match(codeResultText({ ...parsed({ status: 'ok' }), kernelRestarted: true }), /earlier calls are gone/);
  });
});

describe('the notebook launcher answer', () => {
  const token = 'ab'.repeat(24);
  it('reads a port and a token', () => {
    assert.deepEqual(parseNotebookAnswer(`${JSON.stringify({ state: 'started', port: 8123, token })}\n`), { remotePort: 8123, token });
    assert.deepEqual(parseNotebookAnswer(JSON.stringify({ state: 'running', port: 9000, token })), { remotePort: 9000, token });
  });
  it('refuses a port or a token that is not one, and passes on a failure made visible', () => {
    for (const bad of [
      { state: 'started', port: 0, token },
      { state: 'started', port: 70000, token },
      { state: 'started', port: '8123', token },
      { state: 'started', port: 8123, token: 'x&redirect=https://example.com' },
      { state: 'started', port: 8123, token: 'ab' },
      { state: 'other', port: 8123, token },
    ])
      assert.ok('failed' in parseNotebookAnswer(JSON.stringify(bad)), JSON.stringify(bad));
    assert.deepEqual(parseNotebookAnswer('garbage'), { failed: 'no answer' });
    assert.deepEqual(parseNotebookAnswer(JSON.stringify({ state: 'failed', message: 'bad\u001b[2Jthing' })), { failed: 'bad\\x1b[2Jthing' });
  });
});
