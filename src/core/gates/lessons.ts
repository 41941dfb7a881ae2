import { rename } from 'node:fs/promises';
import * as path from 'node:path';
import { readJsonFile, writeFileAtomic } from '../store/files';
import { withRecordLock } from '../store/recordLock';
import type { GateLevel, PatchStats } from './types';

/** The agents' memory of what went wrong, in the state dir. Its format is in docs/gates.md. */
export const LESSONS_FILE = 'lessons.json';
/** The newest lessons kept: the file stays small enough to hand to an agent whole. */
export const MAX_LESSONS = 1000;

export interface Lesson {
  time: string;
  taskId: string;
  attempt: number;
  agentId?: string;
  title?: string;
  /** Where the change was stopped: its command failed, a gate failed, a person rejected it, or it could not be merged. */
  level: GateLevel;
  /** One sentence. */
  reason: string;
  failingTests: Array<{ id: string; message?: string; location?: { path: string; line: number } }>;
  /** The last lines the task's command printed. */
  lastOutput: string[];
  diff?: PatchStats;
  /** The snapshot that keeps the failed state, openable with `sandbox start --from`. */
  snapshot?: string;
  /** What the reviewer wrote when rejecting. */
  note?: string;
}

const MAX_TESTS_PER_LESSON = 50;
const MAX_OUTPUT_LINES = 40;
const MAX_LINE_CHARS = 400;

/** Appends one lesson, keeping the newest MAX_LESSONS; several processes may append at once. */
export async function appendLesson(stateRoot: string, lesson: Lesson): Promise<void> {
  const trimmed: Lesson = {
    ...lesson,
    failingTests: lesson.failingTests.slice(0, MAX_TESTS_PER_LESSON).map((test) => ({ ...test, message: test.message?.slice(0, MAX_LINE_CHARS) })),
    lastOutput: lesson.lastOutput.slice(-MAX_OUTPUT_LINES).map((line) => line.slice(0, MAX_LINE_CHARS)),
  };
  await withRecordLock(path.join(stateRoot, 'locks'), 'lessons', async () => {
    const file = path.join(stateRoot, LESSONS_FILE);
    const lessons: Lesson[] = await readLessonsStrict(file).catch(async () => {
      // Not ours to throw away: an unreadable file is kept beside the new one.
      await rename(file, `${file}.unreadable-${Date.now()}`);
      return [];
    });
    lessons.push(trimmed);
    await writeFileAtomic(file, JSON.stringify(lessons.slice(-MAX_LESSONS), null, 2) + '\n');
  });
}

/** The lessons, oldest first; an unreadable file reads as none (the next append keeps it aside). */
export async function readLessons(stateRoot: string): Promise<Lesson[]> {
  return readLessonsStrict(path.join(stateRoot, LESSONS_FILE)).catch(() => []);
}

async function readLessonsStrict(file: string): Promise<Lesson[]> {
  const value = await readJsonFile<unknown>(file);
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Error(`${file} is not a JSON array.`);
  return value.filter((entry): entry is Lesson => typeof entry === 'object' && entry !== null);
}

/** The last `count` lines of a command's output, for a lesson. */
export function lastLines(text: string, count = MAX_OUTPUT_LINES): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-count);
}
