import * as assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readGateHistory } from '../../../../src/core/evaluator/evaluate';
import { appendGateHistory } from '../../../../src/core/gates/history';
import { gatesHistoryFile } from '../../../../src/core/gates/paths';

const line = (taskId: string) => ({ taskId, attempt: 1, phase: 'passed', time: '2026-01-01T00:00:00.000Z' });

describe('gates history', function () {
  it('takes lines from several writers at once, whole, in a file only its user reads', async function () {
    const root = mkdtempSync(path.join(os.tmpdir(), 'gate-history-'));
    await Promise.all(Array.from({ length: 20 }, (_, i) => appendGateHistory(root, line(`t${i}`))));
    const history = await readGateHistory(root);
    assert.deepEqual(history.map((entry) => entry.taskId).sort(), Array.from({ length: 20 }, (_, i) => `t${i}`).sort());
    assert.equal((await fs.stat(gatesHistoryFile(root))).mode & 0o777, 0o600);
  });

  it('stays bounded: past its size it keeps the newer half, the newest line last', async function () {
    const root = mkdtempSync(path.join(os.tmpdir(), 'gate-history-'));
    const maxBytes = 2000;
    for (let i = 0; i < 200; i++) await appendGateHistory(root, line(`t${i}`), maxBytes);
    const size = (await fs.stat(gatesHistoryFile(root))).size;
    assert.ok(size <= maxBytes, `the file holds ${size} bytes`);
    const history = await readGateHistory(root);
    assert.equal(history.at(-1)!.taskId, 't199');
    assert.ok(history.length > 5, `kept ${history.length} lines`);
    const numbers = history.map((entry) => Number(entry.taskId.slice(1)));
    assert.deepEqual(
      numbers,
      [...numbers].sort((a, b) => a - b),
      'in the order written',
    );
  });
});
