import * as path from 'node:path';
import { SandboxError } from '../errors';
import type { ExecRequest, ExecResult } from '../model';
import { EXEC_MARKER_ENV, commandArgv } from '../transport/dockerExec';
import { KILLER_SCRIPT } from '../transport/execGuardScript';
import { CANCEL_SCRIPT, INSPECT_SCRIPT, READ_OUTPUT_SCRIPT, SUPERVISOR_NAME, SUPERVISOR_SCRIPT, TASK_RUN_ENV } from './supervisorScript';

/**
 * A task's command, run detached inside its sandbox under the supervisor (supervisorScript), so
 * the host side can die and come back without the work being killed or lost. Each call here is
 * one command in the sandbox; what comes back from there is read as hostile input.
 */

/** Runs one command in one sandbox; bound by the caller to controller.inspectExec(ref, ...). */
export type SandboxRun = (request: ExecRequest) => Promise<ExecResult>;

/** Where an attempt lives in its sandbox; marker: the value of SANDBOX_TASK_RUN in its command's environment. */
export interface AttemptPaths {
  dir: string;
  marker: string;
}

export { TASK_RUN_ENV } from './supervisorScript';

const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export function attemptPaths(record: { workdir: string }, taskId: string, attempt: number): AttemptPaths {
  if (!TASK_ID.test(taskId)) throw new SandboxError('invalid-input', `The task id "${taskId}" has characters a task id never has.`);
  if (!Number.isInteger(attempt) || attempt < 1) throw new SandboxError('invalid-input', `The attempt number ${attempt} is not a whole number from 1 on.`);
  const name = `${taskId}-${attempt}`;
  return { dir: path.posix.join(path.posix.dirname(record.workdir), '.sandbox-tasks', name), marker: name };
}

export interface LaunchRequest {
  command: string[] | string;
  cwd: string;
  env: Record<string, string>;
  timeoutMs?: number;
}

const PYTHON = ['python3', '-I', '-S', '-c'];
/** Stdin of the launch (command and env): well under what the supervisor reads. */
const MAX_LAUNCH_BYTES = 4 * 1024 * 1024;
/** Starts the command under the supervisor, or finds it already started: at most one start per attempt dir, ever. */
export async function launchSupervised(run: SandboxRun, paths: AttemptPaths, request: LaunchRequest): Promise<'started' | 'already-started'> {
  const stdin = JSON.stringify({
    argv: commandArgv(request.command),
    cwd: request.cwd,
    env: request.env,
    ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
  });
  if (Buffer.byteLength(stdin) > MAX_LAUNCH_BYTES)
    throw new SandboxError('invalid-input', "The task's command and env are over 4 MiB; put them in a script in the workspace.");
  // Without the exec's own kill marker: killing what the launching exec left would end the supervisor too.
  const result = await run({
    command: ['env', '-u', EXEC_MARKER_ENV, ...PYTHON, SUPERVISOR_SCRIPT, SUPERVISOR_NAME, paths.dir, paths.marker],
    cwd: '/',
    stdin,
    detached: true,
    timeoutMs: 60_000,
    maxOutputBytes: 4096,
  });
  const said = result.stdout.trim();
  if (said === 'started' || said === 'already-started') return said;
  throw new SandboxError('command-failed-to-start', launchFailure(said, request, result));
}

/** What the launch said, in one sentence for the user. */
function launchFailure(said: string, request: LaunchRequest, result: ExecResult): string {
  const program = commandArgv(request.command)[0];
  switch (said) {
    case 'no-cwd':
      return `The task's working folder ${request.cwd} does not exist in the sandbox (or cannot be entered); make it, or pick another, and run the task again.`;
    case 'bad-dir':
      return "The task's attempt folder could not be made in the sandbox (something else is in its place); remove it and run the task again.";
    case 'start-failed not-found':
      return `The program ${program} was not found in the sandbox; install it or fix the command.`;
    case 'start-failed not-executable':
      return `The program ${program} cannot be run (it is not executable); fix its mode or the command.`;
    default: {
      const detail = result.stderr.trim().split('\n').pop()?.slice(0, 200) || `exit ${String(result.exitCode)}`;
      return `The task's command could not be started in the sandbox (${detail}); check that the sandbox has python3.`;
    }
  }
}

export interface SupervisedState {
  started: boolean;
  startedAt?: string;
  /** Present once the command ended: exit code or signal, and whether it hit its timeout or the memory limit. */
  exit?: { exitCode: number | null; signal?: string; timedOut: boolean; outOfMemory: boolean; endedAt: string };
  /** The supervisor process is alive (false with started && !exit means it died: the sandbox restarted under it). */
  alive: boolean;
  stdoutBytes: number;
  stderrBytes: number;
}

/** The attempt's state; with `waitMs`, answered as soon as the command ends within that time. */
export async function inspectSupervised(run: SandboxRun, paths: AttemptPaths, waitMs = 0): Promise<SupervisedState> {
  const wait = Math.max(0, Math.min(Math.floor(waitMs), 60_000));
  const result = await run({ command: [...PYTHON, INSPECT_SCRIPT, paths.dir, String(wait)], cwd: '/', timeoutMs: 60_000 + wait, maxOutputBytes: 64 * 1024 });
  const raw = parseObject(result.exitCode === 0 && !result.truncated ? result.stdout : '');
  if (!raw) throw unreadable(paths, result);
  const started = typeof raw.started === 'string' ? parseObject(raw.started) : undefined;
  const exit = typeof raw.exit === 'string' ? parseExit(raw.exit) : undefined;
  return {
    // A start marker that cannot be read is still a start: the attempt may never be run again.
    started: raw.started !== null && raw.started !== undefined,
    ...(started && isTimestamp(started.startedAt) ? { startedAt: started.startedAt } : {}),
    ...(exit ? { exit } : {}),
    alive: raw.alive === true,
    stdoutBytes: byteCount(raw.stdoutBytes),
    stderrBytes: byteCount(raw.stderrBytes),
  };
}

const DEFAULT_READ_BYTES = 1024 * 1024;
const MAX_READ_BYTES = 16 * 1024 * 1024;

/** Up to maxBytes of stdout or stderr from offset. */
export async function readSupervisedOutput(
  run: SandboxRun,
  paths: AttemptPaths,
  stream: 'stdout' | 'stderr',
  offset: number,
  maxBytes = DEFAULT_READ_BYTES,
): Promise<{ data: Buffer; nextOffset: number }> {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new SandboxError('invalid-input', `The output offset ${offset} is not a whole number from 0 on.`);
  const limit = Math.max(0, Math.min(Math.floor(maxBytes), MAX_READ_BYTES));
  const chunks: Buffer[] = [];
  let size = 0;
  const result = await run({
    command: [...PYTHON, READ_OUTPUT_SCRIPT, paths.dir, stream, String(offset), String(limit)],
    cwd: '/',
    timeoutMs: 120_000,
    maxOutputBytes: 0,
    // Collected as bytes: the result's text would not keep binary output whole.
    onStdout: (chunk) => {
      if (size >= limit) return;
      const kept = chunk.subarray(0, limit - size);
      chunks.push(kept);
      size += kept.length;
    },
  });
  if (result.exitCode !== 0) throw unreadable(paths, result);
  const data = Buffer.concat(chunks);
  return { data, nextOffset: offset + data.length };
}

/** How long a cancel waits for the supervisor to write the exit file once its tree was killed. */
const CANCEL_WAIT_MS = 30_000;

/**
 * Kills the command's whole process tree (the supervisor's tree, and every process carrying the
 * marker) and waits until the exit file is written (the supervisor writes it with signal SIGKILL).
 * Returns without an exit file when the supervisor is gone (the sandbox restarted under it).
 */
export async function cancelSupervised(run: SandboxRun, paths: AttemptPaths): Promise<void> {
  await run({ command: [...PYTHON, CANCEL_SCRIPT, paths.dir], cwd: '/', timeoutMs: 60_000, maxOutputBytes: 4096 });
  await run({ command: [...PYTHON, KILLER_SCRIPT, 'KILL', `${TASK_RUN_ENV}=${paths.marker}`], cwd: '/', timeoutMs: 60_000, maxOutputBytes: 4096 });
  const deadline = Date.now() + CANCEL_WAIT_MS;
  for (;;) {
    const state = await inspectSupervised(run, paths);
    if (state.exit || !state.started || !state.alive) return;
    if (Date.now() > deadline) {
      throw new SandboxError('provider-error', `The task's command in ${paths.dir} did not end within 30 s of being killed; try the cancel again.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Removes the attempt dir (after the task's results were collected, for a kept sandbox). */
export async function removeAttemptDir(run: SandboxRun, paths: AttemptPaths): Promise<void> {
  const result = await run({ command: ['rm', '-rf', '--', paths.dir], cwd: '/', timeoutMs: 60_000, maxOutputBytes: 4096 });
  if (result.exitCode !== 0) {
    throw new SandboxError('provider-error', `The task's folder ${paths.dir} could not be removed from the sandbox (${result.stderr.trim().slice(0, 200)}).`);
  }
}

function unreadable(paths: AttemptPaths, result: ExecResult): SandboxError {
  const detail = result.stderr.trim().split('\n').pop()?.slice(0, 200) || `exit ${String(result.exitCode)}`;
  return new SandboxError('provider-error', `The state of the task in ${paths.dir} could not be read from the sandbox (${detail}).`);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The exit file, field by field; anything malformed reads as no exit yet. */
function parseExit(text: string): SupervisedState['exit'] | undefined {
  if (text.length > 4096) return undefined;
  const raw = parseObject(text);
  if (!raw) return undefined;
  const exitCode =
    raw.exitCode === null
      ? null
      : Number.isInteger(raw.exitCode) && (raw.exitCode as number) >= 0 && (raw.exitCode as number) <= 255
        ? (raw.exitCode as number)
        : undefined;
  const signal =
    raw.signal === null || raw.signal === undefined
      ? undefined
      : typeof raw.signal === 'string' && /^SIG[A-Z0-9+-]{1,12}$/.test(raw.signal)
        ? raw.signal
        : false;
  if (exitCode === undefined || signal === false || !isTimestamp(raw.endedAt)) return undefined;
  if (typeof raw.timedOut !== 'boolean' || typeof raw.outOfMemory !== 'boolean') return undefined;
  return { exitCode, ...(signal ? { signal } : {}), timedOut: raw.timedOut, outOfMemory: raw.outOfMemory, endedAt: raw.endedAt };
}

function isTimestamp(value: unknown): value is string {
  return typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/.test(value) && !Number.isNaN(Date.parse(value));
}

function byteCount(value: unknown): number {
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : 0;
}
