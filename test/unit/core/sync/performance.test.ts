import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
// The module object itself (not an import copy), so the scan's own calls to open() can be counted.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a namespace import is a copy, and stubbing it counts nothing
import fsPromises = require('node:fs/promises');
import { createTreeFilter, pushTree, scanTree } from '../../../../src/core/sync';
import { localChannel, temporaryFolder } from './helpers';

const FOLDERS = 50;
const FILES_PER_FOLDER = 100;
const FILE_BYTES = 10_000;

/** Runs `work`, returning what it opened through fs/promises (the scan opens a file only to hash it). */
async function opening<T>(work: () => Promise<T>): Promise<[T, string[]]> {
  const original = fsPromises.open;
  const opened: string[] = [];
  fsPromises.open = ((file: Parameters<typeof original>[0], ...rest: [string | number | undefined, number | undefined]) => {
    opened.push(String(file));
    return original(file, ...rest);
  }) as typeof original;
  try {
    return [await work(), opened];
  } finally {
    fsPromises.open = original;
  }
}

describe('sync performance on 5,000 files / 50 MB', function () {
  this.timeout(120_000);
  let folder: ReturnType<typeof temporaryFolder>;
  let local: string;
  let remote: string;

  before(() => {
    folder = temporaryFolder();
    local = path.join(folder.root, 'local');
    remote = path.join(folder.root, 'remote');
    for (let dir = 0; dir < FOLDERS; dir++) {
      mkdirSync(path.join(local, `pkg${dir}`), { recursive: true });
      for (let file = 0; file < FILES_PER_FOLDER; file++) {
        writeFileSync(path.join(local, `pkg${dir}`, `file${file}.bin`), randomBytes(FILE_BYTES));
      }
    }
  });
  after(() => folder.cleanup());

  it('rescans an unchanged tree without reading a file and sends only what changed', async () => {
    const channel = localChannel();
    const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
      const started = performance.now();
      const result = await work();
      return [result, Math.round(performance.now() - started)];
    };

    const [full, fullMs] = await timed(() => pushTree({ channel, localRoot: local, remoteDir: remote }));
    assert.equal(full.filesSent, FOLDERS * FILES_PER_FOLDER);
    assert.equal(full.bytesSent, FOLDERS * FILES_PER_FOLDER * FILE_BYTES);

    const [[, rescanOpened], rescanMs] = await timed(() => opening(() => scanTree(local, createTreeFilter(local), full.manifest)));
    assert.deepEqual(rescanOpened, [], 'an unchanged rescan reads no file');
    const [unchanged, unchangedMs] = await timed(() => pushTree({ channel, localRoot: local, remoteDir: remote, previous: full.manifest }));
    assert.equal(unchanged.filesSent, 0);

    for (let index = 0; index < 10; index++) writeFileSync(path.join(local, `pkg${index * 5}`, 'file7.bin'), randomBytes(FILE_BYTES));
    const [, changedOpened] = await opening(() => scanTree(local, createTreeFilter(local), unchanged.manifest));
    assert.deepEqual(
      changedOpened.map((file) => path.relative(local, file)).sort(),
      Array.from({ length: 10 }, (_, index) => path.join(`pkg${index * 5}`, 'file7.bin')).sort(),
      'a rescan reads the changed files only',
    );
    const [incremental, incrementalMs] = await timed(() => pushTree({ channel, localRoot: local, remoteDir: remote, previous: unchanged.manifest }));
    assert.equal(incremental.filesSent, 10);
    assert.equal(incremental.bytesSent, 10 * FILE_BYTES);

    console.log(`      full push ${fullMs} ms, unchanged rescan ${rescanMs} ms, unchanged push ${unchangedMs} ms, 10-file push ${incrementalMs} ms`);
  });
});
