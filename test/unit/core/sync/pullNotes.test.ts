import * as assert from 'node:assert/strict';
import { pullNoteLines, pullNoteSentence } from '../../../../src/core/sync/pullNotes';

describe('what a pull says about links', () => {
  const skipped = (count: number) =>
    Array.from({ length: count }, (_, index) => ({ path: `venv${index}/bin/python3`, target: '/usr/bin/python3', reason: 'points outside /w' }));

  it('says nothing when nothing was skipped or replaced', () => {
    assert.deepEqual(pullNoteLines({ skippedLinks: [], replacedLinks: [] }), []);
    assert.equal(pullNoteSentence({}), '');
  });

  it('lists each link with why in the CLI, up to a limit', () => {
    const lines = pullNoteLines({ skippedLinks: skipped(3), replacedLinks: [{ path: 'data', target: '/mnt/data' }] }, 2);
    assert.deepEqual(lines, [
      'Skipped 3 symlinks (not written locally):',
      '  venv0/bin/python3 -> /usr/bin/python3: points outside /w',
      '  venv1/bin/python3 -> /usr/bin/python3: points outside /w',
      '  and 1 more (--json lists them all)',
      "Replaced 1 local symlink with the sandbox's folder or file:",
      '  data (was a link to /mnt/data)',
    ]);
  });

  it('shows no control character of a name from the sandbox', () => {
    const hostile = { path: 'a\u001b]0;owned\u0007\nb\u009b', target: '/x\r', reason: 'points outside /w' };
    const text = [...pullNoteLines({ skippedLinks: [hostile] }), pullNoteSentence({ skippedLinks: [hostile] })].join('\n');
    assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    assert.ok(text.includes('a?]0;owned??b? -> /x?: points outside /w'), text);
  });

  it('puts the first few in one sentence for a notification', () => {
    assert.equal(
      pullNoteSentence({ skippedLinks: skipped(5), replacedLinks: [{ path: 'data', target: '/mnt/data' }] }, 2),
      'Skipped 5 symlinks: venv0/bin/python3 (points outside /w); venv1/bin/python3 (points outside /w); and 3 more. ' +
        "Replaced 1 local symlink with the sandbox's folder or file: data (was a link to /mnt/data).",
    );
  });
});
