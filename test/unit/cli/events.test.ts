import * as assert from 'node:assert/strict';
import { eventLine } from '../../../src/cli/commands/events';
import type { StoredEvent } from '../../../src/core/collector/store';

const base = { id: 1, time: Date.UTC(2027, 0, 15, 9, 30, 5), sandboxId: 'sb1', sandbox: 'web' };

describe('sandbox events: one line per event', () => {
  it('says the time, type, sandbox and what the event says', () => {
    const exec: StoredEvent = { ...base, type: 'exec.ended', data: { command: 'npm test', exitCode: 1, durationMs: 2500 } };
    assert.equal(eventLine(exec), '2027-01-15 09:30:05  exec.ended           web               npm test -> exit 1 in 2s');
    const sync: StoredEvent = { ...base, type: 'sync.ended', data: { direction: 'push', files: 3, bytes: 120, durationMs: 40 } };
    assert.match(eventLine(sync), /sync\.ended +web +push 3 files, 120 bytes in 40 ms$/);
    const task: StoredEvent = { ...base, type: 'task.ended', task: 't1', data: { taskId: 't1', next: 'succeeded', durationMs: 61_000 } };
    assert.match(eventLine(task), /task t1 -> succeeded in 1m/);
  });

  it('lets no control character of an error reach the terminal', () => {
    const failed: StoredEvent = { ...base, type: 'sync.ended', data: { direction: 'pull', files: 0, bytes: 0, error: 'bad\u001b]0;owned\u0007' } };
    assert.doesNotMatch(eventLine(failed), /[\u0000-\u001f]/);
    assert.match(eventLine(failed), /bad\\x1b\]0;owned\\x07$/);
  });
});
