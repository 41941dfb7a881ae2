/**
 * Tailing files inside a sandbox over its exec channel, as its agent user: one shell script per
 * round reads every file a pattern matches from where the collector stopped, and this module
 * turns what it printed into lines and new offsets. Everything the script prints comes from
 * inside and is hostile: its framing is base64 (no line of it can pose as another), each size is
 * checked against the bound it was asked for, and lines are cut at `maxLineChars`.
 */
import { shellQuote } from '../util/shellQuote';

export interface FileTailLimits {
  /** Files read per round, over all patterns. */
  maxFiles: number;
  /** Bytes read of one file per round. */
  maxBytesPerFile: number;
  /** Bytes read of all files per round. */
  maxBytesPerRound: number;
  /** Longer lines are cut (a `…` says so). */
  maxLineChars: number;
}

export const DEFAULT_FILE_TAIL_LIMITS: FileTailLimits = {
  maxFiles: 32,
  maxBytesPerFile: 256 * 1024,
  maxBytesPerRound: 1024 * 1024,
  maxLineChars: 4096,
};

/** Where the collector stopped in one file: the file's identity (device:inode) and the byte after the last line taken. */
export interface FilePosition {
  fileId: string;
  offset: number;
}

/** What the script read of one file this round. */
export interface FileChunk {
  path: string;
  fileId: string;
  size: number;
  /** The offset the read started from (0 for a new, truncated or replaced file). */
  offset: number;
  /** From `offset - 1` when `offset > 0` (the byte before tells whether a line starts at `offset`), else from 0. */
  data: Buffer;
}

const FILE_ID = /^\d{1,20}:\d{1,20}$/;
const MAX_PATH_CHARS = 1024;

/**
 * The script: for each pattern (`~/` is the user's home), each regular file it matches that the
 * user may open and that has something new, prints `F <dev:inode> <size> <offset> <base64 path>`
 * and a line of base64 data read from its offset (the one `known` has for its dev:inode, 0 when
 * none or when the file shrank). The file is opened once and read through that descriptor, so what
 * is read is the file that was stat-ed. A symlink to a file the user may not read opens nothing.
 * The matched files are taken from the one after the first `start` and round to the first again;
 * a file with nothing new does not count towards `maxFiles`. The last line, `S <n>`, is where the
 * next round starts: past the last file reached when a bound stopped this one, so every file is
 * reached however many match.
 */
export function fileTailScript(
  patterns: readonly string[],
  known: readonly FilePosition[],
  limits: FileTailLimits = DEFAULT_FILE_TAIL_LIMITS,
  start = 0,
): string {
  const table = known
    .filter((k) => FILE_ID.test(k.fileId) && Number.isSafeInteger(k.offset) && k.offset >= 0)
    .map((k) => `${k.fileId}=${k.offset}`)
    .join(' ');
  return [
    `T=' ${table} '`,
    `M=${Math.floor(limits.maxBytesPerFile)} R=${Math.floor(limits.maxBytesPerRound)} N=${Math.floor(limits.maxFiles)} n=0`,
    `S=${Number.isSafeInteger(start) && start > 0 ? start : 0} i=0 next=0`,
    'one() {',
    "  s=$(stat -L -c '%d:%i %s' /dev/fd/3 2>/dev/null) || return 1",
    '  id=${s% *} size=${s#* }',
    '  case "$T" in *" $id="*) off=${T#*" $id="}; off=${off%% *};; *) off=0;; esac',
    '  [ "$size" -ge "$off" ] || off=0',
    '  [ "$size" -ne "$off" ] || return 1',
    '  want=$((size - off)); [ "$want" -le "$M" ] || want=$M; [ "$want" -le "$R" ] || want=$R',
    '  R=$((R - want))',
    '  if [ "$off" -gt 0 ]; then from=$off; want=$((want + 1)); else from=1; fi',
    '  printf \'F %s %s %s \' "$id" "$size" "$off"; printf %s "$1" | base64 | tr -d \'\\n\'; echo',
    '  tail -c +"$from" <&3 | head -c "$want" | base64 | tr -d \'\\n\'; echo',
    '}',
    // visit 1: the files after the first S; visit 2: the first S. Returns 1 when a bound stopped it.
    'visit() {',
    `  for p in ${patterns.map(shellQuote).join(' ')}; do`,
    '    case $p in "~/"*) p=$HOME/${p#"~/"};; esac',
    '    for f in $p; do',
    '      [ -f "$f" ] || continue',
    '      i=$((i + 1))',
    '      if [ "$1" = 1 ]; then [ "$i" -gt "$S" ] || continue; else [ "$i" -le "$S" ] || return 0; fi',
    '      if [ "$n" -ge "$N" ] || [ "$R" -le 0 ]; then next=$((i - 1)); return 1; fi',
    '      { one "$f" && n=$((n + 1)); } 2>/dev/null 3<"$f"',
    '    done',
    '  done',
    '}',
    "IFS=''",
    'visit 1 && { i=0; visit 2; }',
    'echo "S $next"',
    'exit 0',
  ].join('\n');
}

/** Where the next round's script starts (its `start`), from the script's last line; 0 when it has none. */
export function nextFileTailStart(output: string): number {
  const match = /\nS (\d{1,9})\n?$/.exec(output.length > 32 ? output.slice(-32) : `\n${output}`);
  return match ? Number(match[1]) : 0;
}

/** The script's output as chunks; a record that does not parse or breaks its bounds ends the reading there. */
export function parseFileTailOutput(output: string, limits: FileTailLimits = DEFAULT_FILE_TAIL_LIMITS): FileChunk[] {
  const lines = output.split('\n');
  const chunks: FileChunk[] = [];
  for (let i = 0; i + 1 < lines.length && chunks.length < limits.maxFiles; i += 2) {
    const header = /^F (\d{1,20}:\d{1,20}) (\d{1,20}) (\d{1,20}) ([A-Za-z0-9+/=]{1,4000})$/.exec(lines[i]!);
    const body = lines[i + 1]!;
    if (!header || !/^[A-Za-z0-9+/=]*$/.test(body)) break;
    const size = Number(header[2]);
    const offset = Number(header[3]);
    const path = Buffer.from(header[4]!, 'base64').toString('utf8');
    if (!Number.isSafeInteger(size) || !Number.isSafeInteger(offset) || offset > size || path === '' || path.length > MAX_PATH_CHARS) break;
    const data = Buffer.from(body, 'base64');
    // Never more than was asked for: one byte before the offset and a file's share of the round.
    const bound = limits.maxBytesPerFile + (offset > 0 ? 1 : 0);
    chunks.push({ path, fileId: header[1]!, size, offset, data: data.length > bound ? data.subarray(0, bound) : data });
  }
  return chunks;
}

export interface TakenLines {
  lines: string[];
  /** Where the next round starts: past the last line taken. */
  offset: number;
  /** The offset is inside a line (one taken cut): the next round skips to the line's end. */
  midLine: boolean;
}

/**
 * The whole lines of a chunk and the offset after them. A line not yet ended stays for the next
 * round unless it is longer than the bound: then it is taken cut, and the rest of it is skipped
 * next round. The byte before the offset tells whether the file is still the one read before: a
 * newline where a line ended, another byte where one was cut; anything else means the file was
 * truncated and written again past the offset, and it is read again from its start.
 */
export function takeLines(chunk: Pick<FileChunk, 'offset' | 'data'>, maxLineChars: number, wasMidLine = false): TakenLines {
  let data = chunk.data;
  let offset = chunk.offset;
  if (offset > 0) {
    if (data.length === 0) return { lines: [], offset, midLine: wasMidLine };
    if ((data[0] === 0x0a) === wasMidLine) return { lines: [], offset: 0, midLine: false };
    data = data.subarray(1);
    if (wasMidLine) {
      const end = data.indexOf(0x0a);
      if (end < 0) return { lines: [], offset: offset + data.length, midLine: true };
      data = data.subarray(end + 1);
      offset += end + 1;
    }
  }
  const lines: string[] = [];
  let start = 0;
  for (let end = data.indexOf(0x0a); end >= 0; end = data.indexOf(0x0a, start)) {
    lines.push(cutLine(data.subarray(start, end).toString('utf8').replace(/\r$/, ''), maxLineChars));
    start = end + 1;
  }
  const rest = data.subarray(start);
  if (rest.length > maxLineChars && rest.toString('utf8').length > maxLineChars) {
    lines.push(cutLine(rest.toString('utf8'), maxLineChars));
    return { lines, offset: offset + data.length, midLine: true };
  }
  return { lines, offset: offset + start, midLine: false };
}

export function cutLine(text: string, maxChars: number): string {
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}
