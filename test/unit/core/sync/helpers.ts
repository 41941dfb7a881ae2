import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import type { ExecRequest, ExecResult } from '../../../../src/core/model';
import { unpackWithTar, type SyncChannel } from '../../../../src/core/sync';

/** A fresh folder under the system temp dir, removed by `cleanup`. */
export function temporaryFolder(): { root: string; cleanup: () => void } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sync-test-'));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export interface ChannelLog {
  execs: string[][];
  archives: number;
}

/**
 * A SyncChannel whose "sandbox" is this machine: putArchive feeds the system `tar -x`, exec runs
 * the argv as a real process. Real tar, real filesystem; only the transport is missing.
 */
export function localChannel(log: ChannelLog = { execs: [], archives: 0 }): SyncChannel & { log: ChannelLog } {
  return {
    log,
    putArchive(directory, archive, signal) {
      log.archives++;
      return unpackWithTar((request) => this.exec(request), directory, archive, signal);
    },
    exec(request) {
      const argv = typeof request.command === 'string' ? ['sh', '-c', request.command] : request.command;
      log.execs.push(argv);
      return runProcess(argv, request);
    },
  };
}

function runProcess(argv: string[], request: ExecRequest): Promise<ExecResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: request.cwd, stdio: [request.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (request.stdin !== undefined) {
      child.stdin!.on('error', () => undefined); // the process may exit before reading it all
      if (typeof request.stdin === 'string' || Buffer.isBuffer(request.stdin)) child.stdin!.end(request.stdin);
      else {
        request.stdin.on('error', () => child.stdin!.end());
        request.stdin.pipe(child.stdin!);
      }
    }
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let cancelled = false;
    const onAbort = (): void => {
      cancelled = true;
      child.kill('SIGKILL');
    };
    request.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      request.onStdout?.(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      request.onStderr?.(chunk);
    });
    child.on('close', (code, signal) => {
      request.signal?.removeEventListener('abort', onAbort);
      resolve(execResult({ exitCode: code, signal: signal ?? undefined, cancelled, started, stdout, stderr }));
    });
  });
}

/**
 * A sandbox whose `tar` was replaced: whatever the command, stdout is `archive`, sent in small
 * chunks, then the given exit code. With `hang`, it never finishes until cancelled.
 */
export function hostileChannel(archive: Buffer, options: { exitCode?: number; stderr?: string; hang?: boolean } = {}): SyncChannel {
  return {
    putArchive: () => Promise.reject(new Error('not used by a pull')),
    async exec(request) {
      const started = Date.now();
      for (let offset = 0; offset < archive.length; offset += 4096) {
        if (request.signal?.aborted) break;
        request.onStdout?.(archive.subarray(offset, offset + 4096));
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (options.hang && !request.signal?.aborted) {
        await new Promise((resolve) => request.signal?.addEventListener('abort', resolve, { once: true }));
      }
      const cancelled = request.signal?.aborted ?? false;
      const stderr = options.stderr ? [Buffer.from(options.stderr)] : [];
      return execResult({ exitCode: cancelled ? null : (options.exitCode ?? 0), cancelled, started, stdout: [], stderr });
    },
  };
}

function execResult(parts: { exitCode: number | null; signal?: string; cancelled: boolean; started: number; stdout: Buffer[]; stderr: Buffer[] }): ExecResult {
  const stdout = Buffer.concat(parts.stdout);
  const stderr = Buffer.concat(parts.stderr);
  return {
    exitCode: parts.exitCode,
    signal: parts.signal,
    durationMs: Date.now() - parts.started,
    stdout: stdout.toString(),
    stderr: stderr.toString(),
    stdoutBytes: stdout.length,
    stderrBytes: stderr.length,
    truncated: false,
    timedOut: false,
    cancelled: parts.cancelled,
  };
}

export interface CraftedEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  content?: string | Buffer;
  mode?: number;
  linkname?: string;
  size?: number;
}

/** A tar archive built entry by entry, the way a malicious `tar` could write it. */
export async function craftArchive(entries: CraftedEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const entry of entries) {
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: entry.name,
        type: entry.type ?? 'file',
        mode: entry.mode ?? (entry.type === 'directory' ? 0o755 : 0o644),
        linkname: entry.linkname,
        devmajor: 1,
        devminor: 3,
        mtime: new Date(1_700_000_000_000),
      };
      if (entry.content !== undefined) pack.entry(header, entry.content, (error) => (error ? reject(error) : resolve()));
      else pack.entry(header, (error) => (error ? reject(error) : resolve()));
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** Files to create: path -> content, or { link } for a symlink, or null for an empty folder. */
export type TreeSpec = Record<string, string | Buffer | { link: string } | { mode: number; content: string } | null>;

export function writeTree(root: string, spec: TreeSpec): void {
  for (const [relativePath, value] of Object.entries(spec)) {
    const file = path.join(root, relativePath);
    mkdirSync(path.dirname(file), { recursive: true });
    if (value === null) mkdirSync(file, { recursive: true });
    else if (typeof value === 'string' || Buffer.isBuffer(value)) writeFileSync(file, value);
    else if ('link' in value) symlinkSync(value.link, file);
    else writeFileSync(file, value.content, { mode: value.mode });
  }
}

/**
 * Everything under `root` that a change could touch: type, permission bits, mtime, and the
 * content hash or link target. Equal snapshots mean byte-for-byte equal trees.
 */
export function snapshot(root: string): Record<string, string> {
  const result: Record<string, string> = {};
  const visit = (relative: string): void => {
    for (const name of readdirSync(path.join(root, relative)).sort()) {
      const child = relative ? `${relative}/${name}` : name;
      const file = path.join(root, child);
      const stats = lstatSync(file);
      const mode = (stats.mode & 0o7777).toString(8);
      if (stats.isSymbolicLink()) result[child] = `symlink ${readlinkSync(file)}`;
      else if (stats.isDirectory()) {
        result[child] = `dir ${mode} ${stats.mtimeMs}`;
        visit(child);
      } else {
        const hash = createHash('sha256').update(readFileSync(file)).digest('hex');
        result[child] = `file ${mode} ${stats.mtimeMs} ${stats.size} ${hash}`;
      }
    }
  };
  visit('');
  return result;
}

/** Like `snapshot`, without mtimes: what a round trip through tar (whole seconds) must keep. */
export function contentListing(root: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(snapshot(root)).map(([key, value]) => {
      const [type, mode, , size, hash] = value.split(' ');
      if (type === 'symlink') return [key, value];
      return [key, type === 'dir' ? `dir ${mode}` : `file ${mode} ${size} ${hash}`];
    }),
  );
}
