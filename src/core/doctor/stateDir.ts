/** Checks of the state dir: only this user may read it, and its keys are private (docs/state-dir.md). */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describeError } from '../errors';
import { shellWord } from './shellWord';
import { fail, pass, type CheckGroup, type CheckResult } from './types';

/**
 * Folders of the state dir whose files are secrets: the sandboxes' client keys (not their .pub
 * halves) and the added hosts (where the user logs in, with which key file). Credentials added
 * later (a cloud token) join this list.
 */
const SECRET_FOLDERS: Array<{ folder: string; isSecret: (name: string) => boolean }> = [
  { folder: path.join('ssh', 'keys'), isSecret: (name) => !name.endsWith('.pub') },
  { folder: 'hosts', isSecret: (name) => name.endsWith('.json') },
];

/** Shown with at most this many paths; the fix covers them all anyway. */
const LISTED_FILES = 3;

export function modeText(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

export const stateDirChecks: CheckGroup = async (context) => {
  const root = context.stateDir;
  const title = 'State dir';
  let info;
  try {
    info = await fs.stat(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return [pass('state-dir', title, `${root} is not made yet; the first command makes it, mode 0700.`)];
    return [fail('state-dir', title, `${root} cannot be read: ${describeError(error)}.`, `Fix its owner and mode: \`chmod 700 ${shellWord(root)}\`.`)];
  }
  if (!info.isDirectory()) {
    return [fail('state-dir', title, `${root} is not a folder.`, 'Move that file away, or set AGENT_SANDBOXES_HOME to another folder.')];
  }
  const results: CheckResult[] = [];
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    results.push(
      fail(
        'state-dir',
        title,
        `${root} belongs to user id ${info.uid}, not to this user (${uid}).`,
        `Give it back: \`sudo chown -R ${uid} ${shellWord(root)}\`.`,
      ),
    );
  } else if ((info.mode & 0o077) !== 0) {
    results.push(
      fail(
        'state-dir',
        title,
        `${root} is mode ${modeText(info.mode)}: other users could read its journals, keys and task commands.`,
        `Run \`chmod 700 ${shellWord(root)}\`.`,
      ),
    );
  } else {
    results.push(pass('state-dir', title, `${root} is mode ${modeText(info.mode)}, readable by this user only.`));
  }
  results.push(await secretFilesCheck(root));
  return results;
};

async function secretFilesCheck(root: string): Promise<CheckResult> {
  const title = 'Key files';
  const exposed: string[] = [];
  let count = 0;
  for (const { folder, isSecret } of SECRET_FOLDERS) {
    const dir = path.join(root, folder);
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter(isSecret).sort()) {
      const file = path.join(dir, name);
      const info = await fs.lstat(file).catch(() => undefined);
      if (!info?.isFile()) continue;
      count++;
      if ((info.mode & 0o077) !== 0) exposed.push(`${file} (${modeText(info.mode)})`);
    }
  }
  if (exposed.length === 0) return pass('state-dir.keys', title, count ? `All ${count} key and host files are mode 0600.` : 'No key or host files yet.');
  const shown = exposed.slice(0, LISTED_FILES).join(', ') + (exposed.length > LISTED_FILES ? ` and ${exposed.length - LISTED_FILES} more` : '');
  return fail('state-dir.keys', title, `Other users could read ${shown}.`, `Run \`chmod -R go= ${shellWord(root)}\` (only you may then read the state dir).`);
}
