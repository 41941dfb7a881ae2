/**
 * Where the collector stopped in a container's own output. The engine answers `since` with the
 * lines at or after a time (to the nanosecond), so the cursor is the time of the last line taken
 * and how many lines carried exactly that time: those are skipped when read again.
 */

export interface EngineLogCursor {
  /** The last line's time as the engine wrote it (RFC 3339 with nanoseconds). */
  time: string;
  /** Lines taken with exactly that time. */
  count: number;
}

/** A time of the engine's as [seconds since the epoch, nanoseconds]; undefined for anything else. */
export function parseEngineTime(text: string): [number, number] | undefined {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!match) return undefined;
  const millis = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(millis)) return undefined;
  return [Math.floor(millis / 1000), Number((match[2] ?? '').padEnd(9, '0'))];
}

/** -1, 0 or 1 as engine time a is before, at or after b. */
export function compareEngineTimes(a: [number, number], b: [number, number]): number {
  return Math.sign(a[0] - b[0] || a[1] - b[1]);
}

/** The engine's `since` for a cursor: `seconds.nanoseconds`. */
export function engineSince(cursor: EngineLogCursor | undefined): string | undefined {
  const time = cursor && parseEngineTime(cursor.time);
  return time ? `${time[0]}.${String(time[1]).padStart(9, '0')}` : undefined;
}

/**
 * Decides, line by line in the engine's order, which lines are new past the cursor, and moves the
 * cursor over those taken. Lines without a time of the engine's are taken but move nothing.
 */
export class EngineLogFilter {
  private cursorTime?: [number, number];
  private seenAtCursor = 0;
  private skipAtCursor: number;

  constructor(private cursor: EngineLogCursor | undefined) {
    this.cursorTime = cursor ? parseEngineTime(cursor.time) : undefined;
    this.skipAtCursor = cursor?.count ?? 0;
  }

  /** True when the line is new; the cursor then includes it. */
  take(time: string): boolean {
    const parsed = parseEngineTime(time);
    if (!parsed) return true;
    const order = this.cursorTime ? compareEngineTimes(parsed, this.cursorTime) : 1;
    if (order < 0) return false;
    if (order === 0) {
      this.seenAtCursor++;
      if (this.seenAtCursor <= this.skipAtCursor) return false;
      this.cursor = { time: this.cursor!.time, count: this.seenAtCursor };
      return true;
    }
    this.cursorTime = parsed;
    this.cursor = { time, count: 1 };
    this.seenAtCursor = 1;
    this.skipAtCursor = 0;
    return true;
  }

  get position(): EngineLogCursor | undefined {
    return this.cursor;
  }
}
