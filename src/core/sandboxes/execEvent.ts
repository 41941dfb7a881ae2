import type { ExecRequest, ExecResult } from '../model';
import type { SandboxEvent } from './events';

/** Output kept in the journal per stream; the rest is marked truncated. */
const JOURNAL_OUTPUT_BYTES = 8 * 1024;

/**
 * The note of one command: what ran, where, as whom, how it ended. `full` is the request as
 * run (cwd and user resolved); env values are left out, they may be secrets.
 */
export function execEvent(full: ExecRequest, request: ExecRequest, result?: ExecResult, error?: string): SandboxEvent {
  const outputTooLong = (text: string) => text.length > JOURNAL_OUTPUT_BYTES;
  return {
    kind: 'exec',
    command: request.command,
    cwd: full.cwd,
    user: full.user,
    envKeys: request.env ? Object.keys(request.env) : undefined, // values may be secrets
    exitCode: result?.exitCode ?? null,
    signal: result?.signal,
    durationMs: result?.durationMs ?? 0,
    timedOut: result?.timedOut ?? false,
    cancelled: result?.cancelled ?? false,
    stdout: result?.stdout.slice(0, JOURNAL_OUTPUT_BYTES) ?? '',
    stderr: result?.stderr.slice(0, JOURNAL_OUTPUT_BYTES) ?? '',
    truncated: result ? result.truncated || outputTooLong(result.stdout) || outputTooLong(result.stderr) : false,
    error,
    outOfMemory: result?.outOfMemory,
  };
}
