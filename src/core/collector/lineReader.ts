import { promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { openWithStat } from '../store/files';
import type { SourceOffset } from './store';

/** The most read of one file in one round: a huge file is taken in steps, never whole. */
export const DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024;

/** One whole line read, parsed, and where it ends. */
export interface ReadLine {
  value: Record<string, unknown>;
  /** Which file the line is in: the rotated one or the current one. */
  rotated: boolean;
}

/** A line skipped: not JSON (a writer killed midway), or too long to be one of ours. */
export interface TornLine {
  file: string;
  /** The byte offset of the line's start in that file. */
  offset: number;
  message: string;
}

export interface LinesRead {
  lines: ReadLine[];
  torn: TornLine[];
  /** Where the next read starts; store it with what `lines` became, in one transaction. */
  next: SourceOffset;
  /** Whether there is more to read now (the read stopped at its bound). */
  more: boolean;
  /** Lines lost: the file was rotated twice, or cut short, since the last read. */
  lost?: string;
}

export interface LineReadOptions {
  source: string;
  file: string;
  /** The name the file is renamed to when it is rotated (events.1.jsonl), if it is. */
  rotatedFile?: string;
  maxBytes?: number;
  /**
   * How a line written whole starts (`{"type":`): when a writer died mid-line and the next append
   * followed on, the line from the last such start is the whole one, and the part before it is torn.
   */
  lineStart?: string;
}

/**
 * Reads the whole JSON lines of an append-only file after `from`: across a rotation (the rest of
 * the rotated file first, then the new one from its start), at most `maxBytes` per call, with
 * every torn line reported instead of silently dropped. A last line without its newline is left
 * for the next read: its writer may still be writing it.
 */
export async function readNewLines(options: LineReadOptions, from: SourceOffset | undefined): Promise<LinesRead> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_READ_BYTES;
  // Most files are unchanged at most rounds: one stat tells, without opening them.
  if (from?.fileId !== undefined) {
    const info = await fs.stat(options.file).catch(() => undefined);
    if (info && fileIdOf(info) === from.fileId && info.size === from.offset) {
      return { lines: [], torn: [], next: { source: options.source, fileId: from.fileId, offset: from.offset }, more: false };
    }
  }
  const current = await openWithStat(options.file);
  try {
    const currentId = current ? fileIdOf(current.info) : undefined;
    const result: LinesRead = { lines: [], torn: [], next: { source: options.source, offset: 0 }, more: false };
    let offset = from?.offset ?? 0;
    const savedId = from?.fileId;
    const moved = savedId !== undefined && savedId !== currentId;
    // A first read takes the rotated file too: the history from before the collector first ran.
    if ((moved || from === undefined) && options.rotatedFile) {
      const rotated = await openWithStat(options.rotatedFile);
      try {
        const rotatedId = rotated ? fileIdOf(rotated.info) : undefined;
        if (rotated && rotatedId !== currentId && (from === undefined || rotatedId === savedId)) {
          const chunk = await readChunk(rotated.handle, rotated.info.size, from === undefined ? 0 : offset, maxBytes, options, true);
          result.lines.push(...chunk.lines);
          result.torn.push(...chunk.torn);
          if (chunk.more) return { ...result, next: { source: options.source, fileId: rotatedId, offset: chunk.next }, more: true };
          if (chunk.next < rotated.info.size) {
            const at = chunk.next;
            result.torn.push({ file: options.rotatedFile, offset: at, message: `a torn last line at byte ${at} of ${options.rotatedFile} was skipped` });
          }
        } else if (moved) {
          result.lost = `${options.file} was rotated more than once since it was last read; the lines between are not in the store.`;
        }
      } finally {
        await rotated?.handle.close();
      }
      offset = 0;
    } else if (moved) {
      offset = 0;
    }
    if (!current) return result;
    if (offset > current.info.size) {
      result.lost = `${options.file} is shorter than where it was last read (${offset} bytes); it is read again from its start.`;
      offset = 0;
    }
    const chunk = await readChunk(current.handle, current.info.size, offset, maxBytes, options, false);
    result.lines.push(...chunk.lines);
    result.torn.push(...chunk.torn);
    return { ...result, next: { source: options.source, fileId: currentId, offset: chunk.next }, more: chunk.more };
  } finally {
    await current?.handle.close();
  }
}

interface Chunk {
  lines: ReadLine[];
  torn: TornLine[];
  next: number;
  more: boolean;
}

async function readChunk(handle: FileHandle, size: number, from: number, maxBytes: number, options: LineReadOptions, rotated: boolean): Promise<Chunk> {
  const length = Math.max(0, Math.min(size - from, maxBytes));
  const buffer = Buffer.alloc(length);
  const { bytesRead } = length > 0 ? await handle.read(buffer, 0, length, from) : { bytesRead: 0 };
  const data = buffer.subarray(0, bytesRead);
  const file = rotated ? options.rotatedFile! : options.file;
  const chunk: Chunk = { lines: [], torn: [], next: from, more: from + bytesRead < size };
  const end = data.lastIndexOf(0x0a);
  if (end < 0) {
    if (!chunk.more) return { ...chunk, more: false };
    // A full read without a newline: no line of ours is this long. Skip it; its tail is torn too.
    chunk.torn.push({ file, offset: from, message: `a line longer than ${maxBytes} bytes at byte ${from} of ${file} was skipped` });
    return { ...chunk, next: from + bytesRead };
  }
  let start = 0;
  while (start <= end) {
    const newline = data.indexOf(0x0a, start);
    const text = data.subarray(start, newline).toString('utf8');
    const lineOffset = from + start;
    start = newline + 1;
    if (text.trim() === '') continue;
    const parsed = parseJsonLine(text, options.lineStart);
    if (parsed.value) chunk.lines.push({ value: parsed.value, rotated });
    if (parsed.tornPrefix || !parsed.value) {
      const bytes = Buffer.byteLength(parsed.tornPrefix ?? text);
      chunk.torn.push({ file, offset: lineOffset, message: `a torn line (${bytes} bytes) at byte ${lineOffset} of ${file} was skipped` });
    }
  }
  return { ...chunk, next: from + end + 1 };
}

/** The line's object; when it is torn but a whole line follows the tear, that one, with the tear. */
export function parseJsonLine(text: string, lineStart?: string): { value?: Record<string, unknown>; tornPrefix?: string } {
  const whole = parseObject(text);
  if (whole) return { value: whole };
  const restart = lineStart ? text.lastIndexOf(lineStart) : -1;
  if (restart > 0) {
    const rest = parseObject(text.slice(restart));
    if (rest) return { value: rest, tornPrefix: text.slice(0, restart) };
  }
  return {};
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function fileIdOf(info: Stats): string {
  return `${info.dev}:${info.ino}`;
}
