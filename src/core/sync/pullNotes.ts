/** Words for what a pull left out or replaced, shared by the CLI and the extension. No imports: the extension bundles it. */

interface PullNotes {
  skippedLinks?: ReadonlyArray<{ path: string; target: string; reason: string }>;
  replacedLinks?: ReadonlyArray<{ path: string; target: string }>;
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

/** Names come from the sandbox: no control character (a terminal escape, a line break) reaches the screen. */
const printable = (text: string) => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');

/** A heading per list, then one indented line per link, at most `limit` of each. */
export function pullNoteLines(summary: PullNotes, limit = 20): string[] {
  const lines: string[] = [];
  const list = <T>(items: readonly T[], heading: string, line: (item: T) => string) => {
    if (items.length === 0) return;
    lines.push(heading);
    for (const item of items.slice(0, limit)) lines.push(`  ${printable(line(item))}`);
    if (items.length > limit) lines.push(`  and ${items.length - limit} more (--json lists them all)`);
  };
  const skipped = summary.skippedLinks ?? [];
  const replaced = summary.replacedLinks ?? [];
  list(skipped, `Skipped ${plural(skipped.length, 'symlink')} (not written locally):`, (link) => `${link.path} -> ${link.target}: ${link.reason}`);
  list(
    replaced,
    `Replaced ${plural(replaced.length, 'local symlink')} with the sandbox's folder or file:`,
    (link) => `${link.path} (was a link to ${link.target})`,
  );
  return lines;
}

/** Sentences for a notification: counts and the first few links; '' when there is nothing to say. */
export function pullNoteSentence(summary: PullNotes, shown = 3): string {
  const names = (items: string[]) => items.slice(0, shown).join('; ') + (items.length > shown ? `; and ${items.length - shown} more` : '');
  const skipped = summary.skippedLinks ?? [];
  const replaced = summary.replacedLinks ?? [];
  const parts: string[] = [];
  if (skipped.length > 0) parts.push(`Skipped ${plural(skipped.length, 'symlink')}: ${names(skipped.map((link) => `${link.path} (${link.reason})`))}.`);
  if (replaced.length > 0)
    parts.push(
      `Replaced ${plural(replaced.length, 'local symlink')} with the sandbox's folder or file: ${names(replaced.map((link) => `${link.path} (was a link to ${link.target})`))}.`,
    );
  return printable(parts.join(' '));
}
