import * as path from 'node:path';
import { SandboxError } from '../core/errors';
import type { ExecResult, SandboxRecord } from '../core/model';
import type { ToolContext } from './toolKit';

/**
 * File work inside a sandbox, done by small shell scripts run as the sandbox's agent user over
 * the exec channel (never the engine's archive API, which runs as root): what the agent may not
 * read or write, these cannot either.
 */

/** Largest file read or written whole. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** Most entries a listing returns. */
export const MAX_DIR_ENTRIES = 2000;

/** Exit codes of the scripts, each a reason a person can act on. */
const MISSING = 10;
const WRONG_KIND = 11;
const DENIED = 12;
const TOO_BIG = 13;
const SHORT = 14;

const READ_SCRIPT = `
f=$1 max=$2
[ -e "$f" ] || exit ${MISSING}
[ -f "$f" ] || exit ${WRONG_KIND}
head -c 0 -- "$f" 2>/dev/null || exit ${DENIED}
size=$(stat -L -c %s -- "$f") || exit ${DENIED}
[ "$size" -le "$max" ] || { echo "$size"; exit ${TOO_BIG}; }
echo "$size"
head -c "$((max + 1))" -- "$f" | base64 -w0
`;

const WRITE_SCRIPT = `
f=$1 size=$2 parents=$3
dir=$(dirname -- "$f")
[ "$parents" = 1 ] && mkdir -p -- "$dir" 2>/dev/null
[ -d "$dir" ] || exit ${MISSING}
[ ! -e "$f" ] || [ -f "$f" ] || exit ${WRONG_KIND}
t=$(mktemp "$dir/.sandbox-write.XXXXXX" 2>/dev/null) || exit ${DENIED}
trap 'rm -f -- "$t"' EXIT
cat >"$t" || exit ${DENIED}
[ "$(stat -c %s -- "$t")" = "$size" ] || exit ${SHORT}
if [ -e "$f" ]; then chmod --reference="$f" -- "$t" 2>/dev/null; else chmod "$(printf '%o' $((0666 & ~$(umask))))" -- "$t"; fi
mv -f -- "$t" "$f" 2>/dev/null || exit ${DENIED}
trap - EXIT
`;

const LIST_SCRIPT = `
d=$1 max=$2
[ -e "$d" ] || exit ${MISSING}
[ -d "$d" ] || exit ${WRONG_KIND}
[ -r "$d" ] && [ -x "$d" ] || exit ${DENIED}
find "$d" -mindepth 1 -maxdepth 1 -printf '%y\\t%s\\t%P\\0' 2>/dev/null | head -z -n "$((max + 1))"
`;

/** A path as the sandbox sees it: relative ones are in its workspace. */
export function sandboxPath(record: SandboxRecord, requested: string): string {
  if (requested.includes('\0')) throw new SandboxError('invalid-input', 'A path cannot hold a NUL character.');
  return path.posix.resolve(record.workdir, requested);
}

function refusal(result: ExecResult, target: string, what: 'file' | 'folder', record: SandboxRecord): SandboxError {
  const byAgent = `the agent user ${record.user} of ${record.name}`;
  switch (result.exitCode) {
    case MISSING:
      return new SandboxError('not-found', `There is no ${what === 'file' ? 'file' : 'folder'} ${target} in ${record.name}.`);
    case WRONG_KIND:
      return new SandboxError('invalid-input', `${target} in ${record.name} is not a ${what === 'file' ? 'regular file' : 'folder'}.`);
    case DENIED:
      return new SandboxError('invalid-input', `Permission denied: ${target} is out of reach of ${byAgent}.`);
    case TOO_BIG:
      return new SandboxError(
        'resource-limit',
        `${target} is ${result.stdout.trim()} bytes, over the ${MAX_FILE_BYTES} bytes a call handles; read a part with exec (head, tail, sed) or copy it with sync_pull.`,
      );
    case SHORT:
      return new SandboxError('provider-error', `${target} in ${record.name} was not written whole; the old content is untouched, try again.`);
    default:
      return new SandboxError(
        'provider-error',
        `The file step on ${target} in ${record.name} failed (${result.stderr.trim().split('\n')[0] || `exit ${result.exitCode}`}).`,
      );
  }
}

/** The bytes of a file, read whole as the agent user, checked to be whole. */
export async function readSandboxFile(context: ToolContext, record: SandboxRecord, target: string): Promise<Buffer> {
  const result = await context.controller.inspectExec(record.id, {
    command: ['/bin/sh', '-c', READ_SCRIPT, 'read', target, String(MAX_FILE_BYTES)],
    maxOutputBytes: 2 * MAX_FILE_BYTES,
    signal: context.signal,
    timeoutMs: 60_000,
  });
  if (result.exitCode !== 0) throw refusal(result, target, 'file', record);
  const newline = result.stdout.indexOf('\n');
  const size = Number(result.stdout.slice(0, newline));
  const data = Buffer.from(result.stdout.slice(newline + 1).trim(), 'base64');
  if (result.truncated || !Number.isInteger(size) || data.length !== size) {
    throw new SandboxError('conflict', `${target} in ${record.name} changed while it was read; read it again.`);
  }
  return data;
}

/** Writes a file whole as the agent user: into a temporary file beside it, renamed over it. */
export async function writeSandboxFile(context: ToolContext, record: SandboxRecord, target: string, data: Buffer, createParents: boolean): Promise<void> {
  if (data.length > MAX_FILE_BYTES) {
    throw new SandboxError('resource-limit', `The content is ${data.length} bytes, over the ${MAX_FILE_BYTES} bytes a call handles; copy it with sync_push.`);
  }
  const result = await context.controller.inspectExec(record.id, {
    command: ['/bin/sh', '-c', WRITE_SCRIPT, 'write', target, String(data.length), createParents ? '1' : '0'],
    stdin: data,
    signal: context.signal,
    timeoutMs: 60_000,
  });
  if (result.exitCode !== 0) throw refusal(result, target, result.exitCode === MISSING ? 'folder' : 'file', record);
}

export interface DirEntry {
  name: string;
  type: 'file' | 'folder' | 'symlink' | 'other';
  bytes: number;
}

const KINDS: Record<string, DirEntry['type']> = { f: 'file', d: 'folder', l: 'symlink' };

/** A folder's entries (names sorted), at most MAX_DIR_ENTRIES, read as the agent user. */
export async function listSandboxDir(context: ToolContext, record: SandboxRecord, target: string): Promise<{ entries: DirEntry[]; truncated: boolean }> {
  const result = await context.controller.inspectExec(record.id, {
    command: ['/bin/sh', '-c', LIST_SCRIPT, 'list', target, String(MAX_DIR_ENTRIES)],
    maxOutputBytes: 4 * 1024 * 1024,
    signal: context.signal,
    timeoutMs: 60_000,
  });
  if (result.exitCode !== 0) throw refusal(result, target, 'folder', record);
  const entries = result.stdout
    .split('\0')
    .filter((line) => line !== '')
    .map((line): DirEntry => {
      const [kind, bytes, ...name] = line.split('\t');
      return { name: name.join('\t'), type: KINDS[kind ?? ''] ?? 'other', bytes: Number(bytes) };
    });
  const truncated = entries.length > MAX_DIR_ENTRIES || result.truncated;
  return { entries: entries.slice(0, MAX_DIR_ENTRIES).sort((a, b) => a.name.localeCompare(b.name)), truncated };
}
