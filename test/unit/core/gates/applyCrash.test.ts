import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { STAGING_PARENT } from '../../../../src/core/gates/change/applyCommit';
import { recoverInterruptedApplies } from '../../../../src/core/gates/change/applyJournal';
import { contentListing, temporaryFolder, writeTree } from '../sync/helpers';

const COMMIT_MODULE = path.resolve(__dirname, '../../../../src/core/gates/change/applyCommit.js');

/**
 * A process applying one change (a file replaced, one added in a new folder, one deleted with the
 * folder it empties) that kills itself with SIGKILL after `step` of its steps.
 */
const CRASHING_APPLY = `
const fs = require('node:fs');
const path = require('node:path');
const { commitChanges } = require(${JSON.stringify(COMMIT_MODULE)});
const [workspace, step] = [process.argv[1], Number(process.argv[2])];
const local = (relativePath) => fs.lstatSync(path.join(workspace, relativePath));
let taken = 0;
commitChanges(
  workspace,
  [
    { path: 'a.txt', entry: { type: 'file', content: Buffer.from('a, changed\\n'), mode: 0o644 }, local: local('a.txt') },
    { path: 'new/d.txt', entry: { type: 'file', content: Buffer.from('d\\n'), mode: 0o600 }, local: undefined },
  ],
  [{ path: 'dir/c.txt', local: local('dir/c.txt') }],
  async () => false,
  { afterStep: () => { if (++taken === step) process.kill(process.pid, 'SIGKILL'); } },
).then(() => process.exit(0));
`;
/** Set c aside, replace a (set aside, moved in), move d in, mark the journal done. */
const STEPS = 5;

describe('gates: an apply killed midway', function () {
  let folder: ReturnType<typeof temporaryFolder>;
  let workspace: string;
  beforeEach(() => {
    folder = temporaryFolder();
    workspace = path.join(folder.root, 'workspace');
    writeTree(workspace, { 'a.txt': 'a\n', 'b.txt': 'b\n', 'dir/c.txt': 'c\n' });
  });
  afterEach(() => folder.cleanup());

  const crashAt = (step: number) => {
    const run = spawnSync(process.execPath, ['-e', CRASHING_APPLY, workspace, String(step)], { encoding: 'utf8' });
    assert.equal(run.signal, 'SIGKILL', `the apply was to be killed at step ${step}: ${run.stderr}`);
  };
  const leftovers = () => readdirSync(path.join(workspace, STAGING_PARENT)).filter((name) => name.startsWith('.apply-'));

  for (let step = 1; step < STEPS; step++) {
    it(`is taken back whole by the next apply when killed after step ${step} of ${STEPS}`, async function () {
      const before = contentListing(workspace);
      crashAt(step);
      assert.notDeepEqual(contentListing(workspace), before, 'the crash left the workspace half-changed');
      assert.equal(leftovers().length, 1);
      await recoverInterruptedApplies(workspace, path.join(workspace, STAGING_PARENT));
      const after = contentListing(workspace);
      delete after[STAGING_PARENT];
      assert.deepEqual(after, before);
      assert.deepEqual(leftovers(), []);
    });
  }

  it('keeps a finished apply whose staging folder the crash left behind', async function () {
    crashAt(STEPS);
    await recoverInterruptedApplies(workspace, path.join(workspace, STAGING_PARENT));
    const after = contentListing(workspace);
    assert.equal(after['a.txt']?.split(' ')[2], String('a, changed\n'.length));
    assert.ok(after['new/d.txt']);
    assert.ok(!existsSync(path.join(workspace, 'dir')), 'the emptied folder stays removed');
    assert.deepEqual(leftovers(), []);
  });

  it('refuses a journal that names a path outside the workspace, and moves nothing', async function () {
    const staging = path.join(workspace, STAGING_PARENT, '.apply-forged');
    writeTree(staging, { 'old/0': 'planted\n' });
    writeFileSync(path.join(staging, 'journal.jsonl'), JSON.stringify({ undo: 'rename', from: '.sandboxes/.apply-forged/old/0', to: '../outside.txt' }) + '\n');
    await assert.rejects(
      recoverInterruptedApplies(workspace, path.join(workspace, STAGING_PARENT)),
      /could not be taken back .*not a path inside the workspace/,
    );
    assert.ok(!existsSync(path.join(folder.root, 'outside.txt')));
    assert.ok(existsSync(path.join(staging, 'old', '0')), 'what it set aside is kept');
  });
});
