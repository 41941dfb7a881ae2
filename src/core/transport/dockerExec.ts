import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import { SandboxError } from '../errors';
import { DEFAULT_MAX_OUTPUT_BYTES, type ExecRequest, type ExecResult } from '../model';
import { KILLER_SCRIPT, START_FAILURE_PREFIX, guardArgv } from './execGuardScript';
import {
  OutputCollector,
  abandonUnlessEnded,
  finishedResult,
  terminateTree,
  looksLikeStartFailure,
  startFailure,
  startFailureError,
  withOomCount,
  type StartFailureReason,
} from './output';
import { StderrFront } from './stderrFront';

/** Environment marker given to every exec: children inherit it, so the whole tree can be found and killed. */
export const EXEC_MARKER_ENV = 'SANDBOX_EXEC_ID';

export interface DockerExecDefaults {
  user: string;
  cwd: string;
  /** Run the command under the exec guard (a subreaper of its tree) where the image has python3. */
  guard?: boolean;
}

/** Containers found to have no python3 for the guard, per engine client. */
const withoutGuard = new WeakMap<Dockerode, Set<string>>();

/** The engine's words when the guard's interpreter is missing. */
function lacksPython(output: string): boolean {
  return output.includes('OCI runtime exec failed') && output.includes('"python3"');
}

export function commandArgv(command: string[] | string): string[] {
  if (typeof command === 'string') return ['/bin/sh', '-c', command];
  if (command.length === 0) throw new SandboxError('invalid-input', 'The command is empty; give a program to run.');
  return command;
}

/**
 * Runs a command through the Docker exec API. Output streams as it arrives; a timeout or an
 * abort kills the process and everything it started (found by an inherited env marker), so
 * nothing keeps running inside the sandbox after the result comes back.
 */
export async function dockerExec(docker: Dockerode, containerId: string, request: ExecRequest, defaults: DockerExecDefaults): Promise<ExecResult> {
  // A streamed stdin cannot be sent twice, so it never takes the try that may need a retry.
  const streamed = request.stdin !== undefined && typeof request.stdin !== 'string' && !Buffer.isBuffer(request.stdin);
  let skip = withoutGuard.get(docker);
  if (!skip) withoutGuard.set(docker, (skip = new Set()));
  if (defaults.guard && !streamed && !skip.has(containerId)) {
    const result = await dockerExecOnce(docker, containerId, request, defaults, true);
    if (result !== 'no-python') return result;
    skip.add(containerId);
  }
  return (await dockerExecOnce(docker, containerId, request, defaults, false)) as ExecResult;
}

async function dockerExecOnce(
  docker: Dockerode,
  containerId: string,
  request: ExecRequest,
  defaults: DockerExecDefaults,
  guarded: boolean,
): Promise<ExecResult | 'no-python'> {
  const argv = commandArgv(request.command);
  const started = performance.now();
  const marker = `${EXEC_MARKER_ENV}=${request.execId ?? randomBytes(8).toString('hex')}`;
  const env = Object.entries(request.env ?? {}).map(([key, value]) => `${key}=${value}`);
  // The guard hands the marker to the command and keeps it out of its own environment, so a
  // kill by marker never ends the guard before the tree it holds.
  if (!guarded) env.push(marker);
  const hasStdin = request.stdin !== undefined;

  const container = docker.getContainer(containerId);
  const exec = await container.exec({
    Cmd: guarded ? guardArgv(marker, 'c', argv) : argv,
    Env: env,
    User: request.user ?? defaults.user,
    WorkingDir: request.cwd ?? defaults.cwd,
    AttachStdout: true,
    AttachStderr: true,
    AttachStdin: hasStdin,
    Tty: false,
  });

  const limit = request.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  // The engine reports a command that never started on stdout; hold the first chunk back until
  // it is clear that it is the command's own output, so the caller never sees the engine's text.
  let firstChunk = true;
  const stdout = new OutputCollector(limit, (chunk) => {
    if (firstChunk && looksLikeStartFailure(chunk.toString('utf8', 0, 64))) return;
    firstChunk = false;
    request.onStdout?.(chunk);
  });
  const stderr = new OutputCollector(limit, request.onStderr);
  const front = new StderrFront([START_FAILURE_PREFIX], (chunk) => stderr.push(chunk), guarded);

  let timedOut = false;
  let cancelled = false;
  let killing: Promise<void> | undefined;
  let abandoned = false;
  const kill = (reason: 'timeout' | 'cancel') => {
    if (killing) return;
    if (reason === 'timeout') timedOut = true;
    else cancelled = true;
    const users = [...new Set([request.user ?? defaults.user, '0'])];
    killing = killProcessTree(docker, containerId, marker.slice(EXEC_MARKER_ENV.length + 1), users, () => streamEnded)
      .catch(() => undefined)
      // Never hang: if the output stays open after the kill, give up on it and say so.
      .then(async () => {
        abandoned = await abandonUnlessEnded(
          () => streamEnded,
          () => stream.destroy(),
        );
      });
  };

  if (request.signal?.aborted) throw new SandboxError('cancelled', 'The command was cancelled before it started.');
  const stream = (await exec.start({ hijack: true, stdin: hasStdin })) as NodeJS.ReadWriteStream & { destroy(): void };
  let streamEnded = false;
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  }).finally(() => (streamEnded = true));

  docker.modem.demuxStream(stream, sink(stdout), new Writable({ write: (chunk: Buffer, _encoding, done) => (front.push(chunk), done()) }));

  const timer = request.timeoutMs !== undefined ? setTimeout(() => kill('timeout'), request.timeoutMs) : undefined;
  const onAbort = () => kill('cancel');
  request.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    if (hasStdin) writeStdin(stream, request.stdin!);
    await ended;
    await killing;
  } finally {
    if (timer) clearTimeout(timer);
    request.signal?.removeEventListener('abort', onAbort);
  }

  if (abandoned) {
    throw new SandboxError('provider-error', 'The command could not be stopped inside the sandbox; restart the sandbox to be sure it is gone.');
  }
  const info = await exec.inspect();
  const exitCode = info.ExitCode ?? null;
  const output = stdout.text();
  if (guarded && exitCode !== null && exitCode >= 126 && lacksPython(output)) return 'no-python';
  const failure = exitCode !== null && exitCode >= 126 ? startFailure(output, argv, request.cwd) : undefined;
  if (failure) throw failure;
  const report = front.report();
  if (report !== undefined && exitCode === 127) {
    const reason = report.slice(START_FAILURE_PREFIX.length).trim() as StartFailureReason;
    throw startFailureError(reason, argv, request.cwd, reason);
  }
  front.flush();
  return withOomCount(finishedResult(exitCode, { timedOut, cancelled }, started, stdout, stderr), front.oomCountBefore);
}

function sink(collector: OutputCollector): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      collector.push(chunk);
      callback();
    },
  });
}

function writeStdin(stream: NodeJS.ReadWriteStream, stdin: NonNullable<ExecRequest['stdin']>): void {
  if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) {
    stream.end(stdin);
  } else {
    // pipe() leaves the destination open when the source fails: close it so the command sees EOF.
    stdin.on('error', () => stream.end());
    stdin.pipe(stream);
  }
}

/**
 * `sh -c KILL_TREE_SCRIPT kill-tree SIG SANDBOX_EXEC_ID=<marker> KILLER`: signals every process
 * whose environment carries the marker and, where python3 is there, every descendant of those
 * and of the exec guard holding that marker (found by the guard's arguments: a process that
 * cleared its environment is still in the guard's tree); exits 3 when there is none.
 */
export const KILL_TREE_SCRIPT = [
  'sig=$1; pattern="$2"',
  'command -v python3 >/dev/null 2>&1 && exec python3 -I -S -c "$3" "$sig" "$pattern"',
  // grep -z reads NUL-separated environ entries; our own shell does not carry the marker
  'pids=$(grep -lzx -- "$pattern" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)',
  '[ -z "$pids" ] && exit 3',
  'kill -s "$sig" $pids 2>/dev/null; exit 0',
].join('\n');

/** argv of the killer for one signal and marker (NAME=value). */
export function killTreeArgs(sig: string, assignment: string): string[] {
  return ['/bin/sh', '-c', KILL_TREE_SCRIPT, 'kill-tree', sig, assignment, KILLER_SCRIPT];
}

/**
 * Sends SIGTERM, then SIGKILL, to every process carrying the marker. The killer runs as the
 * command's user and as root: without CAP_SYS_PTRACE a process can read the environment of its
 * own user's processes only. Repeats until none is left, since a dying tree may still fork.
 */
export async function killProcessTree(docker: Dockerode, containerId: string, marker: string, users: string[], hasEnded: () => boolean): Promise<void> {
  const sendAs = async (user: string, sig: 'TERM' | 'KILL'): Promise<boolean> => {
    const exec = await docker.getContainer(containerId).exec({
      Cmd: killTreeArgs(sig, `${EXEC_MARKER_ENV}=${marker}`),
      User: user,
      AttachStdout: true,
      AttachStderr: true,
    });
    // Attached, so the response ends when the killer does; drained so its socket closes.
    const output = (await exec.start({ hijack: true, stdin: false })) as NodeJS.ReadableStream;
    output.resume();
    await finished(output);
    return (await exec.inspect()).ExitCode !== 3;
  };
  const send = async (sig: 'TERM' | 'KILL') => (await Promise.all(users.map((user) => sendAs(user, sig)))).some(Boolean);
  await terminateTree(send, hasEnded);
}
