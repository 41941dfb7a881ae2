import * as path from 'node:path';
import { SandboxError, cancelledError } from '../errors';
import type { ExecRequest, ExecResult } from '../model';

/** The two things a sync needs from a sandbox; a provider plus a sandbox ref gives both. */
export interface SyncChannel {
  /** Unpacks a tar stream into `directory`, creating it when missing. */
  putArchive(directory: string, tar: NodeJS.ReadableStream, signal?: AbortSignal): Promise<void>;
  exec(request: ExecRequest): Promise<ExecResult>;
}

/** Keeps argv of one `rm` well below ARG_MAX, whatever the transport adds around it. */
const REMOVE_BATCH_PATHS = 1000;
const REMOVE_BATCH_BYTES = 64 * 1024;

export function assertRemoteDirectory(remoteDir: string): void {
  if (!path.posix.isAbsolute(remoteDir)) {
    throw new SandboxError('invalid-input', `The sandbox folder must be an absolute path, not ${JSON.stringify(remoteDir)}.`);
  }
}

/**
 * Unpacks a tar stream into `directory`, made when missing, with the sandbox's own tar and as the
 * exec's user (so files belong to that user). One exec: no round trip for the mkdir.
 */
export async function unpackWithTar(exec: SyncChannel['exec'], directory: string, archive: NodeJS.ReadableStream, signal?: AbortSignal): Promise<void> {
  const script = 'mkdir -p -- "$1" && exec tar -x -p -f - -C "$1"';
  const result = await exec({ command: ['sh', '-c', script, 'sandbox-unpack', directory], stdin: archive, signal, maxOutputBytes: 64 * 1024 });
  assertSucceeded(result, `unpack files into ${directory}`, signal);
}

/** `rm -rf` of paths relative to `remoteDir`, as argv (never a shell string), in as few calls as fit. */
export async function removeRemotePaths(channel: SyncChannel, remoteDir: string, relativePaths: readonly string[], signal?: AbortSignal): Promise<void> {
  let batch: string[] = [];
  let batchBytes = 0;
  for (const relativePath of relativePaths) {
    const remotePath = path.posix.join(remoteDir, relativePath);
    if (batch.length === REMOVE_BATCH_PATHS || batchBytes + remotePath.length > REMOVE_BATCH_BYTES) {
      await runChecked(channel, ['rm', '-rf', '--', ...batch], `remove files in ${remoteDir}`, signal);
      batch = [];
      batchBytes = 0;
    }
    batch.push(remotePath);
    batchBytes += remotePath.length + 1;
  }
  if (batch.length > 0) await runChecked(channel, ['rm', '-rf', '--', ...batch], `remove files in ${remoteDir}`, signal);
}

/** Throws SandboxError('provider-error') carrying the first line of stderr when the command fails. */
export function assertSucceeded(result: ExecResult, action: string, signal?: AbortSignal): void {
  if (result.cancelled || signal?.aborted) throw cancelledError(`The attempt to ${action}`);
  if (result.exitCode === 0) return;
  const status = result.exitCode === null ? `signal ${result.signal ?? 'unknown'}` : `exit code ${result.exitCode}`;
  const detail = firstLine(result.stderr);
  throw new SandboxError('provider-error', `Could not ${action} in the sandbox (${status})${detail ? `: ${detail}` : '.'}`);
}

async function runChecked(channel: SyncChannel, command: string[], action: string, signal?: AbortSignal): Promise<void> {
  assertSucceeded(await channel.exec({ command, signal, maxOutputBytes: 64 * 1024 }), action, signal);
}

/** The sandbox writes stderr: keep one line and no control characters (no terminal escapes). */
function firstLine(text: string): string {
  const line = text.split('\n').find((candidate) => candidate.trim() !== '') ?? '';
  return line
    .replace(/[\u0000-\u001f\u007f]/g, '?')
    .trim()
    .slice(0, 300);
}
