import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { appendJsonLine, writeFileAtomic } from '../store/files';
import { withRecordLock } from '../store/recordLock';
import { gatesHistoryFile } from './paths';

/** Past this size the history keeps its newer half: one short line per judged change, so about 10,000 stay. */
export const MAX_HISTORY_BYTES = 4 * 1024 * 1024;

/** Appends one judged change to the gates' history (what `sandbox eval` reads), keeping the file bounded. */
export async function appendGateHistory(stateRoot: string, line: Record<string, unknown>, maxBytes = MAX_HISTORY_BYTES): Promise<void> {
  const file = gatesHistoryFile(stateRoot);
  await withRecordLock(path.join(stateRoot, 'locks'), 'gates-history', async () => {
    await appendJsonLine(file, line);
    if ((await fs.stat(file)).size <= maxBytes) return;
    const lines = (await fs.readFile(file, 'utf8')).split('\n').filter((text) => text !== '');
    await writeFileAtomic(file, lines.slice(-Math.max(1, Math.floor(lines.length / 2))).join('\n') + '\n');
  });
}
