import type { LogEntry } from '../core/sandboxes/types';
import { formatSize } from '../core/profile';
import { visibleText } from '../core/util/visibleText';

/** `42s`, `5m`, `3h 12m`, `2d 4h`: an uptime or an age, as every front end shows it. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/**
 * One line of `sandbox logs` and of the extension's log channel: the sandbox's output, or a
 * journal entry. Made visible (util/visibleText.ts): a sandbox's output could otherwise rewrite
 * the terminal it is printed on.
 */
export function formatLogEntry(entry: LogEntry): string {
  return visibleText(logEntryLine(entry));
}

function logEntryLine(entry: LogEntry): string {
  const time = entry.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  if (entry.source === 'sandbox') return `${time}  ${entry.stream === 'stderr' ? 'err' : 'out'}   ${entry.text}`;
  const item = entry.entry;
  switch (item.kind) {
    case 'lifecycle':
      return `${time}  event ${item.action}${item.detail ? ` (${item.detail})` : ''}`;
    case 'exec': {
      const command = typeof item.command === 'string' ? item.command : item.command.join(' ');
      return `${time}  exec  ${command} -> ${execOutcome(item)} in ${item.durationMs} ms${item.outOfMemory ? ` (${item.outOfMemory})` : ''}`;
    }
    case 'sync':
      return item.error
        ? `${time}  sync  ${item.direction} ${item.local} <-> ${item.remote} failed: ${item.error}`
        : `${time}  sync  ${item.direction} ${item.files} files, ${formatSize(item.bytes)} ${item.direction === 'push' ? `${item.local} -> ${item.remote}` : `${item.remote} -> ${item.local}`}`;
  }
}

type ExecJournalEntry = Extract<Extract<LogEntry, { source: 'journal' }>['entry'], { kind: 'exec' }>;

function execOutcome(item: ExecJournalEntry): string {
  if (item.error) return `failed: ${item.error}`;
  if (item.timedOut) return 'timed out';
  if (item.cancelled) return 'cancelled';
  if (item.signal) return `killed by ${item.signal}`;
  return `exit ${item.exitCode}`;
}

/** Text from a sandbox made safe for a terminal (see util/visibleText.ts). */
export const visibleControls = visibleText;
