import * as assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { appendLesson, LESSONS_FILE, MAX_LESSONS, readLessons, type Lesson } from '../../../../src/core/gates/lessons';

const lesson = (taskId: string, extra: Partial<Lesson> = {}): Lesson => ({
  time: '2026-01-01T00:00:00.000Z',
  taskId,
  attempt: 1,
  level: 'L0',
  reason: 'A test failed.',
  failingTests: [],
  lastOutput: [],
  ...extra,
});

describe('lessons.json', function () {
  it('appends from several writers at once without losing one, and trims what an entry holds', async function () {
    const root = mkdtempSync(path.join(os.tmpdir(), 'lessons-'));
    const long = 'x'.repeat(1000);
    await Promise.all(Array.from({ length: 12 }, (_, i) => appendLesson(root, lesson(`t${i}`, { lastOutput: Array(100).fill(long) }))));
    const lessons = await readLessons(root);
    assert.equal(lessons.length, 12);
    assert.equal(lessons[0]!.lastOutput.length, 40);
    assert.equal(lessons[0]!.lastOutput[0]!.length, 400);
    assert.equal((await fs.stat(path.join(root, LESSONS_FILE))).mode & 0o777, 0o600);
  });

  it('keeps the newest MAX_LESSONS', async function () {
    const root = mkdtempSync(path.join(os.tmpdir(), 'lessons-'));
    await fs.writeFile(path.join(root, LESSONS_FILE), JSON.stringify(Array.from({ length: MAX_LESSONS }, (_, i) => lesson(`old${i}`))));
    await appendLesson(root, lesson('newest'));
    const lessons = await readLessons(root);
    assert.equal(lessons.length, MAX_LESSONS);
    assert.equal(lessons[0]!.taskId, 'old1');
    assert.equal(lessons.at(-1)!.taskId, 'newest');
  });

  it('keeps an unreadable file aside instead of throwing it away', async function () {
    const root = mkdtempSync(path.join(os.tmpdir(), 'lessons-'));
    await fs.writeFile(path.join(root, LESSONS_FILE), '{ not json');
    assert.deepEqual(await readLessons(root), []);
    await appendLesson(root, lesson('after'));
    assert.deepEqual(
      (await readLessons(root)).map((entry) => entry.taskId),
      ['after'],
    );
    const aside = readdirSync(root).filter((name) => name.startsWith(`${LESSONS_FILE}.unreadable-`));
    assert.equal(aside.length, 1);
    assert.equal(await fs.readFile(path.join(root, aside[0]!), 'utf8'), '{ not json');
  });
});
