/**
 * A machine's system log read over its exec channel: systemd's journal from the cursor the
 * collector stopped at (journalctl's own resume point, so nothing is read twice). A droplet's is
 * read as `sandbox logs` reads it: through `sudo -n` where the user may (the system log is not the
 * agent's to read otherwise). On an SSH host, the user's own machine, it is read as the host
 * user, who sees what the journal lets it see.
 * Machines without a journal say so, and their /var/log/syslog is tailed as a file instead.
 */
import { shellQuote } from '../util/shellQuote';
import { cutLine } from './fileTail';

/** What the script prints when the machine has no systemd journal. */
export const NO_JOURNAL = 'NO-JOURNAL';
export const SYSLOG_FILE = '/var/log/syslog';
export const MAX_JOURNAL_LINES_PER_ROUND = 2000;

/** journalctl's cursors are `s=…;i=…;b=…;m=…;t=…;x=…`: nothing else is put in the command. */
const CURSOR = /^[A-Za-z0-9=;_-]{1,512}$/;

/** `asRoot`: through `sudo -n` where the user may (a droplet, whose whole system log is the sandbox's); else as the user. */
export function journalTailScript(cursor: string | undefined, options: { asRoot: boolean; maxLines?: number }): string {
  const maxLines = options.maxLines ?? MAX_JOURNAL_LINES_PER_ROUND;
  const read = 'journalctl --no-pager -q -o json --output-fields=MESSAGE,SYSLOG_IDENTIFIER,PRIORITY';
  const fromBoot = `$as ${read} -b`;
  const source = cursor !== undefined && CURSOR.test(cursor) ? `{ $as ${read} --after-cursor=${shellQuote(cursor)} 2>/dev/null || ${fromBoot}; }` : fromBoot;
  return [
    options.asRoot ? 'as=; [ "$(id -u)" = 0 ] || { sudo -n true 2>/dev/null && as="sudo -n"; }' : 'as=',
    `if [ -d /run/systemd/system ] && command -v journalctl >/dev/null 2>&1; then ${source} | head -n ${Math.floor(maxLines)}; exit 0; fi`,
    `echo ${NO_JOURNAL}`,
  ].join('\n');
}

export interface JournalLine {
  time: number;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface JournalRead {
  lines: JournalLine[];
  /** The cursor after the last entry taken; undefined when none was. */
  cursor?: string;
  /** The machine has no systemd journal. */
  noJournal: boolean;
}

/** journalctl's JSON lines, each an entry; one that does not parse (a cut last line) ends the reading there. */
export function parseJournalOutput(output: string, maxLineChars: number, now = Date.now()): JournalRead {
  if (output.trim() === NO_JOURNAL) return { lines: [], noJournal: true };
  const lines: JournalLine[] = [];
  let cursor: string | undefined;
  for (const text of output.split('\n')) {
    if (text === '') continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(text) as Record<string, unknown>;
    } catch {
      break;
    }
    if (typeof entry !== 'object' || entry === null || typeof entry.__CURSOR !== 'string' || !CURSOR.test(entry.__CURSOR)) break;
    cursor = entry.__CURSOR;
    const micros = Number(entry.__REALTIME_TIMESTAMP);
    const priority = Number(entry.PRIORITY);
    const ident = typeof entry.SYSLOG_IDENTIFIER === 'string' ? `${entry.SYSLOG_IDENTIFIER}: ` : '';
    lines.push({
      time: Number.isFinite(micros) && micros > 0 ? Math.floor(micros / 1000) : now,
      stream: Number.isFinite(priority) && priority <= 3 ? 'stderr' : 'stdout',
      line: cutLine(ident + messageText(entry.MESSAGE), maxLineChars),
    });
  }
  return { lines, noJournal: false, ...(cursor !== undefined ? { cursor } : {}) };
}

/** journalctl writes a message that is not UTF-8 as an array of its bytes. */
function messageText(message: unknown): string {
  if (typeof message === 'string') return message;
  if (Array.isArray(message) && message.every((b) => typeof b === 'number')) return Buffer.from(message.slice(0, 64 * 1024) as number[]).toString('utf8');
  return '';
}
