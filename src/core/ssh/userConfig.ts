import { randomBytes } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxError, isSandboxError } from '../errors';

/**
 * Our one edit to the user's OpenSSH client config (the file VS Code's remote.SSH.configFile
 * names, else ~/.ssh/config): a marked block at the top that Includes a file we own. Everything
 * else in that file is the user's, and every byte of it is kept as it was.
 */
export const INCLUDE_BEGIN = '# >>> agent-sandboxes >>>';
export const INCLUDE_END = '# <<< agent-sandboxes <<<';

export function defaultUserSshConfig(): string {
  return path.join(os.homedir(), '.ssh', 'config');
}

/** Adds (or updates in place) our block that Includes `includedFile`. Returns whether the file changed. */
export async function addSshInclude(userConfigPath: string, includedFile: string): Promise<{ changed: boolean }> {
  const directive = includeDirective(includedFile);
  return failClearly(userConfigPath, 'update', async () => {
    const file = (await resolveConfigFile(userConfigPath, true))!;
    if (samePath(path.resolve(includedFile), file) || samePath(path.resolve(includedFile), path.resolve(userConfigPath))) {
      throw new SandboxError('invalid-input', `${userConfigPath} cannot Include itself; pass another file to include.`);
    }
    const existing = await readIfPresent(file);
    const before = existing?.text ?? '';
    const after = withBlock(before, toBytes(directive), userConfigPath);
    // A second add with the same path leaves the file alone: not even rewritten.
    if (existing && after === before) return { changed: false };
    await writeAtomically(file, after, existing?.stat);
    return { changed: true };
  });
}

/** Takes our block out again; the rest of the file is byte-for-byte what it was before addSshInclude. */
export async function removeSshInclude(userConfigPath: string): Promise<{ changed: boolean }> {
  return failClearly(userConfigPath, 'update', async () => {
    const file = await resolveConfigFile(userConfigPath, false);
    const existing = file === undefined ? undefined : await readIfPresent(file);
    if (!file || !existing) return { changed: false };
    const after = withoutBlock(existing.text, userConfigPath);
    if (after === existing.text) return { changed: false };
    // Even when nothing but our block was there, the file stays (empty): it is the user's file.
    await writeAtomically(file, after, existing.stat);
    return { changed: true };
  });
}

/** The file our block Includes, if the block is there. */
export async function readSshInclude(userConfigPath: string): Promise<string | undefined> {
  return failClearly(userConfigPath, 'read', async () => {
    const file = await resolveConfigFile(userConfigPath, false);
    const existing = file === undefined ? undefined : await readIfPresent(file);
    if (!existing) return undefined;
    const { body } = splitBom(existing.text);
    const block = findBlock(body, userConfigPath);
    if (!block) return undefined;
    for (const line of lines(body.slice(block.begin, block.end))) {
      const match = /^\s*include(?:\s*=\s*|\s+)(.*?)\s*$/i.exec(line.content);
      if (!match) continue;
      const value = match[1]!;
      const unquoted = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
      const included = Buffer.from(unquoted, 'latin1').toString('utf8');
      return process.platform === 'win32' ? path.win32.normalize(included) : included;
    }
    return undefined;
  });
}

/**
 * The Include line for `includedFile`: absolute, double-quoted (spaces), forward slashes on
 * Windows. Characters OpenSSH would read as something else (quotes, escapes, globs, %tokens,
 * ${VARS}) are refused rather than escaped, since OpenSSH versions differ in how they unescape.
 */
export function includeDirective(includedFile: string, platform: NodeJS.Platform = process.platform): string {
  const api = platform === 'win32' ? path.win32 : path.posix;
  let absolute = api.resolve(includedFile);
  if (platform === 'win32') absolute = absolute.replace(/\\/g, '/');
  if (includedFile === '' || /["\\*?[%$\u0000-\u001f\u007f]/.test(absolute)) {
    throw new SandboxError(
      'invalid-input',
      `Cannot Include "${includedFile}" from the SSH config: its path is empty or has a character OpenSSH would not read literally (" \\ * ? [ % $ or a control character); use a path without them.`,
    );
  }
  return `Include "${absolute}"`;
}

// The file is handled as latin1 text: one character per byte, so bytes we do not touch are written
// back exactly, even when the file is not valid UTF-8. Our own lines are converted with toBytes.
const BOM = '\u00ef\u00bb\u00bf';

function toBytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

interface Line {
  start: number;
  /** End of the content, before any \r\n or \n. */
  end: number;
  /** Start of the next line. */
  next: number;
  content: string;
}

function* lines(text: string): Generator<Line> {
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf('\n', start);
    const next = newline < 0 ? text.length : newline + 1;
    let end = newline < 0 ? text.length : newline;
    if (end > start && text[end - 1] === '\r') end--;
    yield { start, end, next, content: text.slice(start, end) };
    start = next;
  }
}

function splitBom(text: string): { bom: string; body: string } {
  const bom = text.startsWith(BOM) ? BOM : '';
  return { bom, body: text.slice(bom.length) };
}

interface Block {
  /** Start of the BEGIN line. */
  begin: number;
  /** Just after the END line and its line break. */
  end: number;
  /** Just after the one empty line we put after END (same as `end` when it is gone). */
  endWithBlank: number;
}

/** Finds our block; a lone, repeated or reversed marker is refused rather than guessed at. */
function findBlock(body: string, userConfigPath: string): Block | undefined {
  const all = [...lines(body)];
  const begins = all.filter((line) => line.content.trim() === INCLUDE_BEGIN);
  const ends = all.filter((line) => line.content.trim() === INCLUDE_END);
  if (begins.length === 0 && ends.length === 0) return undefined;
  let problem: string | undefined;
  if (begins.length === 0) problem = `a "${INCLUDE_END}" line without a "${INCLUDE_BEGIN}" line before it`;
  else if (ends.length === 0) problem = `a "${INCLUDE_BEGIN}" line without a "${INCLUDE_END}" line after it`;
  else if (begins.length > 1 || ends.length > 1) problem = 'more than one pair of agent-sandboxes marker lines';
  else if (ends[0]!.start < begins[0]!.start) problem = `its "${INCLUDE_END}" line before its "${INCLUDE_BEGIN}" line`;
  if (problem) {
    throw new SandboxError(
      'invalid-input',
      `${userConfigPath} has ${problem}; delete the agent-sandboxes marker lines (and what is between them) by hand and try again.`,
    );
  }
  const endLine = ends[0]!;
  const following = all[all.indexOf(endLine) + 1];
  return {
    begin: begins[0]!.start,
    end: endLine.next,
    endWithBlank: following && following.content === '' ? following.next : endLine.next,
  };
}

/** The line break the file already uses (CRLF files get CRLF lines from us too). */
function lineBreakOf(text: string): '\n' | '\r\n' | undefined {
  const newline = text.indexOf('\n');
  if (newline < 0) return undefined;
  return newline > 0 && text[newline - 1] === '\r' ? '\r\n' : '\n';
}

/** An Include after a Host or Match line would only apply to that block, so ours must come first. */
function hasHostOrMatchBefore(body: string, offset: number): boolean {
  for (const line of lines(body.slice(0, offset))) {
    if (/^\s*(host|match)(\s|=|$)/i.test(line.content)) return true;
  }
  return false;
}

function withBlock(text: string, directive: string, userConfigPath: string): string {
  const { bom, body } = splitBom(text);
  const block = findBlock(body, userConfigPath);
  const rest = block ? body.slice(0, block.begin) + body.slice(block.endWithBlank) : body;
  const eol = lineBreakOf(rest) ?? (block && lineBreakOf(body.slice(block.begin, block.end))) ?? '\n';
  const ours = [INCLUDE_BEGIN, directive, INCLUDE_END, '', ''].join(eol);
  // Updated where it is, unless the user moved it below a Host or Match: then back to the top.
  if (block && !hasHostOrMatchBefore(body, block.begin)) {
    return bom + body.slice(0, block.begin) + ours + body.slice(block.endWithBlank);
  }
  return bom + ours + rest;
}

function withoutBlock(text: string, userConfigPath: string): string {
  const { bom, body } = splitBom(text);
  const block = findBlock(body, userConfigPath);
  if (!block) return text;
  return bom + body.slice(0, block.begin) + body.slice(block.endWithBlank);
}

/**
 * The file to edit: a symlink is followed to its target so the link stays a link. Undefined when
 * nothing is there and `create` is false; with `create`, a missing parent (~/.ssh) is made 0700.
 */
async function resolveConfigFile(userConfigPath: string, create: boolean): Promise<string | undefined> {
  let file = path.resolve(userConfigPath);
  for (let hops = 0; hops < 40; hops++) {
    try {
      return await fs.realpath(file);
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw error;
    }
    const link = await fs.lstat(file).catch((error: unknown) => {
      if (errnoOf(error) === 'ENOENT') return undefined;
      throw error;
    });
    if (link?.isSymbolicLink()) {
      // A dangling link: the file it names is the one to create.
      file = path.resolve(path.dirname(file), await fs.readlink(file));
      continue;
    }
    if (!create) return undefined;
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    return path.join(await fs.realpath(path.dirname(file)), path.basename(file));
  }
  throw Object.assign(new Error('too many levels of symbolic links'), { code: 'ELOOP' });
}

async function readIfPresent(file: string): Promise<{ text: string; stat: Stats } | undefined> {
  try {
    const handle = await fs.open(file, 'r');
    try {
      const stat = await handle.stat();
      if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      return { text: (await handle.readFile()).toString('latin1'), stat };
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Temp file in the same directory (so rename is atomic and readers, ssh included, see the old or
 * the new file, never half of one), fsynced, then renamed over. Two writers at once: the last
 * rename wins, neither file is torn. An existing file keeps its mode, and its owner when we are root.
 */
async function writeAtomically(file: string, text: string, existing: Stats | undefined): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.agent-sandboxes.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, 'wx', 0o600);
    await handle.writeFile(Buffer.from(text, 'latin1'));
    if (existing) {
      await handle.chmod(existing.mode & 0o7777);
      if (process.getuid?.() === 0) await handle.chown(existing.uid, existing.gid);
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, file);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await syncDirectory(path.dirname(file));
}

/** Makes the rename itself durable; best effort (not possible on Windows). */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // durability only; the content is already right
  }
}

function samePath(a: string, b: string): boolean {
  return process.platform === 'win32' || process.platform === 'darwin' ? a.toLowerCase() === b.toLowerCase() : a === b;
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Turns a file system error into one sentence saying what happened and what to do. */
async function failClearly<T>(userConfigPath: string, action: 'read' | 'update', work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isSandboxError(error)) throw error;
    const code = errnoOf(error);
    const reasons: Record<string, string> = {
      EACCES: 'permission denied',
      EPERM: 'permission denied',
      EROFS: 'read-only file system',
      EISDIR: 'it is a directory',
      ENOTDIR: 'a folder in its path is a file',
      EEXIST: 'a folder in its path is a file',
      ENOSPC: 'no space left on the device',
      ELOOP: 'too many levels of symbolic links',
    };
    const reason = (code && reasons[code]) ?? (error instanceof Error ? error.message : String(error));
    const fix = reason === 'permission denied' || reason === 'read-only file system' ? `make it ${action === 'read' ? 'readable' : 'writable'}` : 'fix that';
    throw new SandboxError('provider-error', `Could not ${action} ${userConfigPath} (${reason}); ${fix} or set remote.SSH.configFile to another file.`, {
      cause: error,
    });
  }
}
