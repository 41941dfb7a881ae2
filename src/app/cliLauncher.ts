/**
 * The `sandbox` command of an installed extension: a small shell script in ~/.local/bin that runs
 * the CLI bundled in the extension (dist/cli.js) with a Node.js 20.19 or newer from PATH, and
 * otherwise with the editor's own runtime (Electron run as Node.js, as VS Code's `code` command
 * does; in code-server the runtime is a plain Node.js already).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxError } from '../core/errors';

/** The line that marks a launcher as ours: only such a file is ever replaced or removed. */
export const LAUNCHER_MARK = '# agent-sandboxes-launcher';
/** Set by the launcher for the CLI it runs: hints then name `sandbox`, not the script's path. */
export const LAUNCHER_ENV = 'AGENT_SANDBOXES_LAUNCHER';
/** The oldest Node.js the CLI supports (package.json engines.node). */
export const MIN_NODE = { major: 20, minor: 19 } as const;

export interface LauncherTarget {
  /** Absolute path of the bundled CLI (dist/cli.js in the installed extension). */
  cli: string;
  /** The editor's runtime (process.execPath of the extension host). */
  runtime: string;
  /** True when the runtime is Electron (desktop VS Code), which runs a script as Node.js only with ELECTRON_RUN_AS_NODE=1. */
  electron: boolean;
}

export interface LauncherPlace {
  /** The home folder; the launcher goes to <home>/.local/bin/sandbox. */
  home?: string;
  /** The PATH the user's shells get, to tell whether ~/.local/bin is on it. */
  pathVariable?: string;
}

export interface InstallResult {
  file: string;
  /** False when the launcher there already ran this very CLI with this runtime. */
  changed: boolean;
  /** The launcher's folder is on PATH: a new shell finds `sandbox`. */
  onPath: boolean;
}

export function launcherFile(home: string = os.homedir()): string {
  return path.join(home, '.local', 'bin', 'sandbox');
}

/** Single quotes for sh: nothing inside is expanded. */
function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The launcher's text: plain POSIX sh, no bash needed. */
export function launcherScript(target: LauncherTarget): string {
  const fallback = target.electron ? 'ELECTRON_RUN_AS_NODE=1 exec "$RUNTIME" "$CLI" "$@"' : 'exec "$RUNTIME" "$CLI" "$@"';
  return [
    '#!/bin/sh',
    '# sandbox: the Agent Sandboxes CLI, bundled in the VS Code extension.',
    '# Written by "Sandboxes: Install \'sandbox\' Command in PATH"; "Sandboxes: Remove \'sandbox\' Command from PATH" removes it.',
    LAUNCHER_MARK,
    `CLI=${shQuote(target.cli)}`,
    `RUNTIME=${shQuote(target.runtime)}`,
    'if [ ! -f "$CLI" ]; then',
    `  echo "sandbox: $CLI is gone (the Agent Sandboxes extension was updated or removed); run \\"Sandboxes: Install 'sandbox' Command in PATH\\" in VS Code again." >&2`,
    '  exit 127',
    'fi',
    `${LAUNCHER_ENV}="$0"`,
    `export ${LAUNCHER_ENV}`,
    "# A Node.js on PATH, when it is new enough; otherwise the editor's own runtime.",
    'version=$(node --version 2>/dev/null) || version=',
    'version=${version#v}',
    'major=${version%%.*}',
    'minor=${version#*.}',
    'minor=${minor%%.*}',
    'case "$major.$minor" in',
    '  *[!0-9.]* | .* | *.) ;;',
    '  *)',
    `    if [ "$major" -gt ${MIN_NODE.major} ] || { [ "$major" -eq ${MIN_NODE.major} ] && [ "$minor" -ge ${MIN_NODE.minor} ]; }; then`,
    '      exec node "$CLI" "$@"',
    '    fi',
    '    ;;',
    'esac',
    fallback,
    '',
  ].join('\n');
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function existsAtAll(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}

/** True when `dir` is one of PATH's folders (compared after resolving ~ and trailing slashes). */
export function isOnPath(dir: string, pathVariable: string = process.env.PATH ?? '', home: string = os.homedir()): boolean {
  const wanted = path.resolve(dir);
  return pathVariable
    .split(path.delimiter)
    .filter(Boolean)
    .some((entry) => path.resolve(entry.startsWith('~/') ? path.join(home, entry.slice(2)) : entry) === wanted);
}

/**
 * Writes the launcher (mode 0755), creating ~/.local/bin when needed. Refuses to replace a file
 * it did not write, so a `sandbox` installed some other way is never lost.
 */
export async function installLauncher(target: LauncherTarget, place: LauncherPlace = {}): Promise<InstallResult> {
  const home = place.home ?? os.homedir();
  const file = launcherFile(home);
  const onPath = isOnPath(path.dirname(file), place.pathVariable, home);
  const text = launcherScript(target);
  const existing = await readIfExists(file).catch(() => undefined);
  if (existing === undefined && (await existsAtAll(file))) {
    throw new SandboxError(
      'conflict',
      `${file} exists and is not a file this extension wrote, so it was left alone; remove or rename it, then install the command again.`,
    );
  }
  if (existing !== undefined && !isOurs(existing)) {
    throw new SandboxError(
      'conflict',
      `${file} exists and was not written by this extension, so it was left alone; remove or rename it, then install the command again.`,
    );
  }
  if (existing === text) {
    await fs.chmod(file, 0o755);
    return { file, changed: false, onPath };
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  // A new file renamed into place: a shell running the old launcher never reads half of the new one.
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await fs.writeFile(temporary, text, { mode: 0o755 });
    await fs.chmod(temporary, 0o755);
    await fs.rename(temporary, file);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  return { file, changed: true, onPath };
}

export type RemoveResult = { file: string; removed: true } | { file: string; removed: false; reason: 'absent' };

/** Removes the launcher; refuses, saying so, when the file there is not one it wrote. */
export async function removeLauncher(place: LauncherPlace = {}): Promise<RemoveResult> {
  const file = launcherFile(place.home ?? os.homedir());
  const existing = await readIfExists(file).catch(() => undefined);
  if (existing === undefined) {
    if (await existsAtAll(file)) {
      throw new SandboxError('conflict', `${file} is not a file this extension wrote, so it was left alone; remove it yourself if it should go.`);
    }
    return { file, removed: false, reason: 'absent' };
  }
  if (!isOurs(existing)) {
    throw new SandboxError('conflict', `${file} was not written by this extension, so it was left alone; remove it yourself if it should go.`);
  }
  await fs.rm(file, { force: true });
  return { file, removed: true };
}

/**
 * After an update the extension lives in a new folder: a launcher of ours that runs another CLI
 * is rewritten to run this one. Nothing happens when there is no launcher or it is not ours.
 */
export async function refreshLauncher(target: LauncherTarget, place: LauncherPlace = {}): Promise<boolean> {
  const file = launcherFile(place.home ?? os.homedir());
  const existing = await readIfExists(file).catch(() => undefined);
  if (existing === undefined || !isOurs(existing) || existing === launcherScript(target)) return false;
  return (await installLauncher(target, place)).changed;
}

function isOurs(text: string): boolean {
  return text.split('\n').includes(LAUNCHER_MARK);
}
