import * as path from 'node:path';
import { SandboxError } from '../errors';
import type { ExecRequest, ExecResult } from '../model';
import { KILLER_SCRIPT } from '../transport/execGuardScript';
import { INSPECT_SCRIPT, READ_SCRIPT, SUPERVISOR_SCRIPT, TASK_RUN_ENV } from './supervisorScript';

/** Runs one command in one sandbox; bound by the caller to controller.inspectExec(ref, ...). */
export type SandboxRun = (request: ExecRequest) => Promise<ExecResult>;

/** Where an attempt's files are in the sandbox, and the marker its processes carry. */
export interface AttemptPaths {
  dir: string;
  marker: string;
}

export interface LaunchRequest {
  command: string[] | string;
  cwd: string;
  env: Record<string, string>;
  timeoutMs?: number;
}

export interface SupervisedState {
  started: boolean;
  startedAt?: string;
  /** Present once the command ended. */
  exit?: { exitCode: number | null; signal?: string; timedOut: boolean; outOfMemory: boolean; endedAt: string };
  /** The supervisor process is alive; started without exit and not alive means it died with its sandbox's processes. */
  alive: boolean;
  stdoutBytes: number;
  stderrBytes: number;
}

const READ_LIMIT = 1024 * 1024;

export function attemptPaths(record: { workdir: string }, taskId: string, attempt: number): AttemptPaths {
  if (!/^[A-Za-z0-9_-]+$/.test(taskId)) throw new SandboxError('invalid-input', `The task id "${taskId}" is not an id.`);
  return {
    dir: path.posix.join(path.posix.dirname(record.workdir), '.sandbox-tasks', `${taskId}-${attempt}`),
    marker: `${taskId}-${attempt}`,
  };
}

/** Starts the command under the supervisor, or finds it started: at most one start per attempt dir, ever. */
export async function launchSupervised(run: SandboxRun, paths: AttemptPaths, request: LaunchRequest): Promise<'started' | 'already-started'> {
  const spec = { dir: paths.dir, cwd: request.cwd, marker: paths.marker, command: request.command, env: request.env, timeoutMs: request.timeoutMs ?? null };
  const result = await run({
    command: ['env', '-u', 'SANDBOX_EXEC_ID', 'python3', '-I', '-S', '-c', SUPERVISOR_SCRIPT],
    stdin: JSON.stringify(spec),
    detached: true,
    maxOutputBytes: 4096,
    timeoutMs: 30_000,
  });
  const said = result.stdout.trim();
  if (said === 'started' || said === 'already-started') return said;
  if (said === 'no-cwd')
    throw new SandboxError('command-failed-to-start', `The working folder ${request.cwd} does not exist in the sandbox; the command was not started.`);
  throw new SandboxError(
    'command-failed-to-start',
    `The task's supervisor did not start (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 300) || 'no message'}.`,
  );
}

/** The attempt's state; with `waitMs`, answers as soon as the command ends within that time. */
export async function inspectSupervised(run: SandboxRun, paths: AttemptPaths, waitMs = 0): Promise<SupervisedState> {
  const wait = String(Math.max(0, Math.min(Math.floor(waitMs), 60_000)));
  const result = await run({
    command: ['python3', '-I', '-S', '-c', INSPECT_SCRIPT, paths.dir, wait],
    maxOutputBytes: 16_384,
    timeoutMs: 20_000 + Number(wait),
  });
  if (result.exitCode !== 0)
    throw new SandboxError('provider-error', `The task's state could not be read (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 200)}`);
  return parseState(result.stdout);
}

/** The inspector's report, read as hostile input: every field checked. */
export function parseState(text: string): SupervisedState {
  const raw = JSON.parse(text) as Record<string, unknown>;
  const count = (value: unknown) => (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0);
  const state: SupervisedState = {
    started: typeof raw.started === 'string',
    alive: raw.alive === true,
    stdoutBytes: count(raw.stdoutBytes),
    stderrBytes: count(raw.stderrBytes),
  };
  if (typeof raw.started === 'string') {
    try {
      const at = (JSON.parse(raw.started) as { at?: unknown }).at;
      if (typeof at === 'string' && !Number.isNaN(Date.parse(at))) state.startedAt = at;
    } catch {
      // written, not yet filled: started all the same
    }
  }
  if (typeof raw.exit === 'string') {
    let exit: Record<string, unknown>;
    try {
      exit = JSON.parse(raw.exit) as Record<string, unknown>;
    } catch {
      exit = {}; // torn or tampered: an end without a code
    }
    const code = exit.exitCode;
    state.exit = {
      exitCode: typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 255 ? code : null,
      timedOut: exit.timedOut === true,
      outOfMemory: exit.outOfMemory === true,
      endedAt: typeof exit.endedAt === 'string' && !Number.isNaN(Date.parse(exit.endedAt)) ? exit.endedAt : new Date().toISOString(),
    };
    if (typeof exit.signal === 'string' && /^SIG[A-Z0-9]{1,10}$/.test(exit.signal)) state.exit.signal = exit.signal;
    if (state.exit.exitCode === null && state.exit.signal === undefined) state.exit.signal = 'SIGKILL';
  }
  return state;
}

/** Up to maxBytes of stdout or stderr from offset. */
export async function readSupervisedOutput(
  run: SandboxRun,
  paths: AttemptPaths,
  stream: 'stdout' | 'stderr',
  offset: number,
  maxBytes = READ_LIMIT,
): Promise<{ data: Buffer; nextOffset: number }> {
  const limit = Math.max(0, Math.min(maxBytes, READ_LIMIT));
  const chunks: Buffer[] = [];
  let size = 0;
  const result = await run({
    command: ['python3', '-I', '-S', '-c', READ_SCRIPT, path.posix.join(paths.dir, stream), String(Math.max(0, Math.floor(offset))), String(limit)],
    maxOutputBytes: 1,
    timeoutMs: 20_000,
    onStdout: (chunk) => {
      if (size + chunk.length > limit) chunk = chunk.subarray(0, limit - size);
      size += chunk.length;
      chunks.push(chunk);
    },
  });
  if (result.exitCode !== 0) throw new SandboxError('provider-error', `The task's ${stream} could not be read (exit ${result.exitCode}).`);
  const data = Buffer.concat(chunks);
  return { data, nextOffset: offset + data.length };
}

/** Kills the command's whole tree (every process carrying its marker, and their descendants), then waits for the exit file. */
export async function cancelSupervised(run: SandboxRun, paths: AttemptPaths, waitMs = 10_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  do {
    await run({ command: ['python3', '-I', '-S', '-c', KILLER_SCRIPT, 'KILL', `${TASK_RUN_ENV}=${paths.marker}`], maxOutputBytes: 4096, timeoutMs: 20_000 });
    const state = await inspectSupervised(run, paths);
    if (state.exit || !state.alive) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  } while (Date.now() < deadline);
}

/** Removes the attempt dir of a sandbox that is kept. */
export async function removeAttemptDir(run: SandboxRun, paths: AttemptPaths): Promise<void> {
  await run({ command: ['rm', '-rf', '--', paths.dir], timeoutMs: 20_000 });
}
