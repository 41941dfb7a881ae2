import * as assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxError } from '../../../../src/core/errors';
import { currentOwner } from '../../../../src/core/exec/owners';
import { acquirePidLock, readPidLock } from '../../../../src/core/tasks/pidLock';

const refuse = (holder: { pid: number }) => new SandboxError('conflict', `held by ${holder.pid}`);

describe('pid locks', function () {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pid-lock-'));
    file = path.join(dir, 'x.lock');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is made whole, refuses a second holder while the first lives, and leaves no temp file', () => {
    const release = acquirePidLock(file, refuse, 'daemon');
    assert.equal(readPidLock(file)?.pid, process.pid);
    assert.throws(() => acquirePidLock(file, refuse), /held by/);
    release();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('takes over the lock of a process that is gone', () => {
    writeFileSync(file, JSON.stringify({ ...currentOwner(), pid: 2 ** 22 + 17, start: 'gone', startedAt: '' }));
    const release = acquirePidLock(file, refuse);
    assert.equal(readPidLock(file)?.pid, process.pid);
    release();
  });

  it('does not take a lock file it cannot read yet for stale: it may be being written', () => {
    writeFileSync(file, '');
    assert.throws(() => acquirePidLock(file, refuse), /keeps changing/);
    assert.equal(readFileSync(file, 'utf8'), '', 'the file is left as it was');
  });
});
