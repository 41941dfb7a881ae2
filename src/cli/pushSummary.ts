import type { SyncSummary } from '../core/controller';
import { formatSize } from '../core/profile';
import type { SkipReason } from '../core/sync';

/** Names shown per list; `--json` has them all. */
const SHOWN = 10;

const SKIP_WORDS: Record<SkipReason, string> = {
  unreadable: 'cannot be read',
  vanished: 'vanished while pushing',
  changed: 'shrank while sent, sent again next push',
  special: 'fifo, socket or device',
};

/** What `sandbox sync push` prints: the counts, then what was skipped or overwritten, named. */
export function describePush(summary: SyncSummary): string {
  const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  const lines = [
    `Pushed ${plural(summary.files, 'changed file')} (${formatSize(summary.bytes)}) to ${summary.remote}` +
      `${summary.deleted ? `, deleted ${summary.deleted}` : ''}; ${summary.unchanged ?? 0} unchanged.`,
  ];
  const overwritten = summary.overwrittenInSandbox ?? [];
  if (overwritten.length > 0) lines.push(`Overwrote ${plural(overwritten.length, 'file')} changed in the sandbox since the last push: ${names(overwritten)}.`);
  const skipped = summary.skipped ?? [];
  if (skipped.length > 0) {
    const shown = skipped.slice(0, SHOWN).map((entry) => `${entry.path} (${SKIP_WORDS[entry.reason]})`);
    lines.push(`Skipped ${skipped.length}: ${shown.join(', ')}${more(skipped.length)}.`);
  }
  const outside = summary.linksOutside ?? [];
  if (outside.length > 0) lines.push(`Sent ${plural(outside.length, 'link')} leading outside the folder as written: ${names(outside)}.`);
  return lines.join('\n');
}

function names(paths: readonly string[]): string {
  return paths.slice(0, SHOWN).join(', ') + more(paths.length);
}

function more(count: number): string {
  return count > SHOWN ? ` and ${count - SHOWN} more (see --json)` : '';
}
