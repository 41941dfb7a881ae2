import { constants } from 'node:os';
import { SandboxError } from '../errors';
import type { ExecResult } from '../model';

/** How long a process has to leave after SIGTERM before it gets SIGKILL. */
export const TERMINATION_GRACE_MS = 1000;
/** How long the output may stay open after the process tree was killed. */
export const STREAM_CLOSE_GRACE_MS = 5000;

/** Keeps up to `limit` bytes of a stream for the result while passing every chunk on. */
export class OutputCollector {
  private readonly chunks: Buffer[] = [];
  private keptBytes = 0;
  totalBytes = 0;
  truncated = false;

  constructor(
    private readonly limit: number,
    private readonly onChunk?: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    this.onChunk?.(chunk);
    const room = this.limit - this.keptBytes;
    if (room <= 0) {
      this.truncated ||= chunk.length > 0;
      return;
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length < chunk.length) this.truncated = true;
    this.chunks.push(kept);
    this.keptBytes += kept.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export function signalName(signalNumber: number): string {
  for (const [name, value] of Object.entries(constants.signals)) {
    if (value === signalNumber) return name;
  }
  return `SIG${signalNumber}`;
}

/** Why a program could not start: the same four cases whichever way the command was run. */
export type StartFailureReason = 'not-found' | 'not-executable' | 'bad-cwd' | 'other';

/** The error for a program that could not start; `detail` (the runtime's words) is shown for 'other'. */
export function startFailureError(reason: StartFailureReason, argv: string[], cwd: string | undefined, detail: string): SandboxError {
  switch (reason) {
    case 'bad-cwd':
      return new SandboxError(
        'command-failed-to-start',
        `The working directory ${cwd ?? ''} does not exist in the sandbox; create it or pick another.`.replace('  ', ' '),
      );
    case 'not-found':
      return new SandboxError('command-failed-to-start', `The program ${argv[0]} was not found in the sandbox; install it or give its full path.`);
    case 'not-executable':
      return new SandboxError('command-failed-to-start', `The program ${argv[0]} is not executable in the sandbox; check its mode.`);
    default:
      return new SandboxError('command-failed-to-start', `The command could not start in the sandbox: ${detail}`);
  }
}

/**
 * The runtime reports a program that cannot start (missing, not executable, bad working
 * directory) on the output stream with exit code 126 or 127; that is an error, not a result.
 */
/** How the engine begins the output of an exec that never started. */
export function looksLikeStartFailure(text: string): boolean {
  return /^(OCI runtime exec failed|unable to find (user|group)|uids and gids must be in range)/.test(text);
}

export function startFailure(stdout: string, argv: string[], cwd: string | undefined): SandboxError | undefined {
  const user = /^unable to find user ([^:\s]+)/.exec(stdout);
  if (user) {
    return new SandboxError(
      'command-failed-to-start',
      `The user ${user[1]} does not exist in the sandbox; run as one that does (the default is the sandbox's own).`,
    );
  }
  const group = /^unable to find group ([^:\s]+)/.exec(stdout);
  if (group) {
    return new SandboxError('command-failed-to-start', `The group ${group[1]} does not exist in the sandbox; run as one that does.`);
  }
  if (stdout.startsWith('uids and gids must be in range')) {
    return new SandboxError('command-failed-to-start', 'The user or group is out of range (0-2147483647); run as one that exists in the sandbox.');
  }
  if (!stdout.includes('OCI runtime exec failed')) return undefined;
  const reason: StartFailureReason = /chdir|cwd/.test(stdout)
    ? 'bad-cwd'
    : /not found|no such file/i.test(stdout)
      ? 'not-found'
      : /permission denied/i.test(stdout)
        ? 'not-executable'
        : 'other';
  return startFailureError(reason, argv, cwd, stdout.trim().split('\n')[0]!);
}

/**
 * The result of a finished command. Exit codes come as the engine reports them (128 + signal
 * for a killed process); only a kill of ours is reported as a signal, since a command may also
 * exit with such a code on its own.
 */
export function finishedResult(
  exitCode: number | null,
  outcome: { timedOut: boolean; cancelled: boolean },
  startedAt: number,
  stdout: OutputCollector,
  stderr: OutputCollector,
): ExecResult {
  const killedBy = (outcome.timedOut || outcome.cancelled) && exitCode !== null && exitCode > 128 ? signalName(exitCode - 128) : undefined;
  return {
    exitCode: killedBy ? null : exitCode,
    signal: killedBy,
    durationMs: Math.round((performance.now() - startedAt) * 10) / 10,
    stdout: stdout.text(),
    stderr: stderr.text(),
    stdoutBytes: stdout.totalBytes,
    stderrBytes: stderr.totalBytes,
    truncated: stdout.truncated || stderr.truncated,
    timedOut: outcome.timedOut,
    cancelled: outcome.cancelled,
  };
}

/**
 * SIGTERM to a process tree, a grace period while it has not ended, then SIGKILL until no
 * process of it is left (a dying tree may still fork). `send` signals every process of the
 * tree and says whether it found any.
 */
export async function terminateTree(send: (signal: 'TERM' | 'KILL') => Promise<boolean>, hasEnded: () => boolean): Promise<void> {
  await send('TERM');
  const graceEnd = Date.now() + TERMINATION_GRACE_MS;
  while (!hasEnded() && Date.now() < graceEnd) await pause(20);
  for (let round = 0; round < 50; round++) {
    if (!(await send('KILL'))) return;
    await pause(20);
  }
}

/**
 * After a kill: waits up to STREAM_CLOSE_GRACE_MS for the command's output to end, then gives up
 * on it (`giveUp`) so that nothing hangs; true when it had to give up.
 */
export async function abandonUnlessEnded(hasEnded: () => boolean, giveUp: () => void): Promise<boolean> {
  const deadline = Date.now() + STREAM_CLOSE_GRACE_MS;
  while (!hasEnded() && Date.now() < deadline) await pause(20);
  if (hasEnded()) return false;
  giveUp();
  return true;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Carries the sandbox's OOM kill count from before the command (the guard's prelude) to the
 * controller, which reads it again after: not part of the result it hands out.
 */
export const OOM_COUNT_BEFORE = Symbol('oomCountBefore');
/** Set instead where the transport saw the count before and after (the exec agent). */
export const OOM_KILLS = Symbol('oomKills');
export type ExecResultWithOom = ExecResult & { [OOM_COUNT_BEFORE]?: number; [OOM_KILLS]?: number };

export function withOomCount(result: ExecResult, before: number | undefined): ExecResult {
  if (before !== undefined) (result as ExecResultWithOom)[OOM_COUNT_BEFORE] = before;
  return result;
}
