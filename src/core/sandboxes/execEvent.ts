import { describeError, isSandboxError } from '../errors';
import { summarizeCommand, type EventInput, type ExecChannel } from '../events/types';
import type { ExecRequest, ExecResult } from '../model';

/** Output kept in the journal per stream; the rest is marked truncated. */
const JOURNAL_OUTPUT_BYTES = 8 * 1024;

/** What every event of one command tells: which command, where, as whom, over which channel. */
function execFields(sandboxId: string, full: ExecRequest, request: ExecRequest, channel: ExecChannel) {
  return {
    sandboxId,
    execId: full.execId ?? '',
    command: summarizeCommand(request.command),
    channel,
    user: full.user ?? '',
    cwd: full.cwd ?? '',
    envKeys: request.env ? Object.keys(request.env) : undefined, // values may be secrets
  };
}

/** A command begins. `full` is the request as run (cwd and user resolved). */
export function execStartedEvent(sandboxId: string, full: ExecRequest, request: ExecRequest, channel: ExecChannel): EventInput {
  return { type: 'exec.started', ...execFields(sandboxId, full, request, channel), detached: request.detached ?? false };
}

/**
 * A command ended, or could not run (`error`): how it ended, and for the journal in this process
 * the full command with its capped output. Env values are left out, they may be secrets.
 */
export function execEndedEvent(
  sandboxId: string,
  full: ExecRequest,
  request: ExecRequest,
  channel: ExecChannel,
  result?: ExecResult,
  error?: unknown,
): EventInput {
  const outputTooLong = (text: string) => text.length > JOURNAL_OUTPUT_BYTES;
  return {
    type: 'exec.ended',
    ...execFields(sandboxId, full, request, channel),
    exitCode: result?.exitCode ?? null,
    signal: result?.signal,
    durationMs: result?.durationMs ?? 0,
    timedOut: result?.timedOut ?? false,
    cancelled: result?.cancelled ?? false,
    outOfMemory: result?.outOfMemory,
    errorCode: error !== undefined && isSandboxError(error) ? error.code : undefined,
    error: error !== undefined ? describeError(error) : undefined,
    localOnly: {
      command: request.command,
      stdout: result?.stdout.slice(0, JOURNAL_OUTPUT_BYTES) ?? '',
      stderr: result?.stderr.slice(0, JOURNAL_OUTPUT_BYTES) ?? '',
      truncated: result ? result.truncated || outputTooLong(result.stdout) || outputTooLong(result.stderr) : false,
    },
  };
}
