import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import type { ClientChannel } from 'ssh2';
import { SandboxError } from '../errors';
import { DEFAULT_MAX_OUTPUT_BYTES, type ExecRequest, type ExecResult } from '../model';
import type { SshSession } from '../ssh/session';
import { shellQuote } from '../util/shellQuote';
import { EXEC_MARKER_ENV, commandArgv, killTreeArgs } from './dockerExec';
import { GUARD_NAME, GUARD_SCRIPT, START_FAILURE_PREFIX } from './execGuardScript';
import { OutputCollector, abandonUnlessEnded, finishedResult, terminateTree, startFailureError, withOomCount, type StartFailureReason } from './output';
import { StderrFront } from './stderrFront';

/**
 * Runs in `sh` on the remote side before the command: reads environment variables from the
 * first line of stdin (so their values never show in a process list), changes directory, checks
 * that the program can start, then becomes the exec guard (the subreaper of the command's tree,
 * which gives the command its kill marker) where python3 is there, or the command itself with
 * the marker.
 * Arguments: guard source, marker (NAME=value), flags (e: an environment line comes first), cwd, argv...
 */
const WRAPPER = [
  'guard="$1"; marker="$2"; flags="$3"; cwd="$4"; shift 4',
  `fail() { printf '${START_FAILURE_PREFIX.replace('\x1e', '\\036')}%s\\n' "$1" >&2; exit 127; }`,
  'case "$flags" in *e*) IFS= read -r line || exit 125; eval "$(printf %s "$line" | base64 -d)" || exit 125;; esac',
  'cd "$cwd" 2>/dev/null || fail bad-cwd',
  'case "$1" in',
  '  */*) [ -e "$1" ] || fail not-found; { [ -f "$1" ] && [ -x "$1" ]; } || fail not-executable ;;',
  '  *) command -v "$1" >/dev/null 2>&1 || fail not-found ;;',
  'esac',
  `command -v python3 >/dev/null 2>&1 && exec python3 -I -S -c "$guard" ${GUARD_NAME} "$marker" - -- "$@"`,
  'export "$marker"',
  'exec "$@"',
].join('\n');

export interface SshExecDefaults {
  /** The user the connection logs in as; any other user goes through `sudo -n`. */
  loginUser: string;
  cwd: string;
  /** Variables every command gets, over the request's own (a directory sandbox's marker). */
  env?: Record<string, string>;
  /** argv put before the command and its sudo (a launcher applying limits). */
  prefix?: string[];
}

function sudoPrefix(user: string | undefined, loginUser: string): string[] {
  if (user === undefined || user === loginUser) return [];
  const [name, group] = user.split(':');
  const asId = (value: string) => (/^\d+$/.test(value) ? `#${value}` : value);
  return ['sudo', '-n', '-u', asId(name!), ...(group ? ['-g', asId(group)] : []), '--'];
}

function environmentLine(env: Record<string, string>): string {
  const lines = Object.entries(env).map(([key, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new SandboxError('invalid-input', `"${key}" is not a valid environment variable name; use letters, digits and underscores.`);
    }
    return `export ${key}=${shellQuote(value)}`;
  });
  return Buffer.from(lines.join('\n')).toString('base64') + '\n';
}

/**
 * A command over an SSH session, with the semantics of the Docker exec path: streaming,
 * exit code or signal, output caps, and a timeout or cancel that kills the whole process tree
 * (found by its inherited marker). A connection that drops mid-command is an error saying so;
 * what the command left running is killed once the session reconnects.
 */
export async function sshExec(session: SshSession, request: ExecRequest, defaults: SshExecDefaults): Promise<ExecResult> {
  const argv = commandArgv(request.command);
  const started = performance.now();
  const marker = request.execId ?? randomBytes(8).toString('hex');
  const env = { ...request.env, ...defaults.env };
  const hasEnv = Object.keys(env).length > 0;
  const prelude = hasEnv ? environmentLine(env) : '';
  const sudo = sudoPrefix(request.user, defaults.loginUser);
  const remote = [
    ...(defaults.prefix ?? []),
    ...sudo,
    '/bin/sh',
    '-c',
    WRAPPER,
    'sandbox-exec',
    GUARD_SCRIPT,
    `${EXEC_MARKER_ENV}=${marker}`,
    hasEnv ? 'e' : '-',
    request.cwd ?? defaults.cwd,
    ...argv,
  ]
    .map(shellQuote)
    .join(' ');

  const limit = request.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const stdout = new OutputCollector(limit, request.onStdout);
  // The guard's prelude, the wrapper's own report of a start failure (or sudo's refusal) come
  // first on stderr: held until it is clear what is the command's own output.
  const stderr = new OutputCollector(limit, request.onStderr);
  const front = new StderrFront([START_FAILURE_PREFIX, ...(sudo.length > 0 ? ['sudo: '] : [])], (chunk) => stderr.push(chunk), true);

  let exitCode: number | null | undefined;
  let channelClosed = false;
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  // Listeners go on inside the channel's callback: ssh2 emits 'exit' as it parses, and a fast
  // command's exit status can arrive in the same packet burst as the channel's confirmation.
  const attach = (channel: ClientChannel) => {
    channel.on('data', (chunk: Buffer) => stdout.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => front.push(chunk));
    channel.on('exit', (code: number | null, signalName?: string) => {
      if (!signalName) exitCode = code;
      else {
        const name = (signalName.startsWith('SIG') ? signalName : `SIG${signalName}`) as NodeJS.Signals;
        exitCode = 128 + (constants.signals[name] ?? 0);
      }
    });
    channel.on('close', () => {
      channelClosed = true;
      onClosed();
    });
    // A write after the far end went away must not become an uncaught error; close tells the rest.
    channel.on('error', () => undefined);
  };
  if (request.signal?.aborted) throw new SandboxError('cancelled', 'The command was cancelled before it started.');
  const { channel, release } = await session.exec(remote, request.signal, attach);

  let timedOut = false;
  let cancelled = false;
  let killing: Promise<void> | undefined;
  let abandoned = false;
  const kill = (reason: 'timeout' | 'cancel') => {
    if (killing) return;
    if (reason === 'timeout') timedOut = true;
    else cancelled = true;
    killing = killProcessTree(session, marker, () => channelClosed)
      .catch(() => undefined)
      // Never hang: if the channel stays open after the kill (or the kill could not run), give up on it and say so.
      .then(async () => {
        abandoned = await abandonUnlessEnded(
          () => channelClosed,
          () => {
            channel.close();
            onClosed();
          },
        );
      });
  };
  const timer = request.timeoutMs !== undefined ? setTimeout(() => kill('timeout'), request.timeoutMs) : undefined;
  const onAbort = () => kill('cancel');
  request.signal?.addEventListener('abort', onAbort, { once: true });
  // A cancel that came while the connection or a channel was awaited.
  if (request.signal?.aborted) kill('cancel');

  try {
    writeStdin(channel, prelude, request.stdin);
    await closed;
    await killing;
  } finally {
    if (timer) clearTimeout(timer);
    request.signal?.removeEventListener('abort', onAbort);
    release();
  }

  if (abandoned) {
    throw new SandboxError('provider-error', 'The command could not be stopped inside the sandbox; restart the sandbox to be sure it is gone.');
  }
  if (exitCode === undefined) {
    // No exit status: the connection went away under the command. Whatever it left running
    // there is killed as soon as we are connected again.
    session.whenConnected(() => killProcessTree(session, marker, () => false));
    throw new SandboxError(
      'connection-lost',
      'The SSH connection to the sandbox was lost while the command ran, so its result is unknown; it is stopped there on reconnect, and you can run it again.',
    );
  }
  const report = front.report();
  if (report !== undefined) {
    if (exitCode === 127 && report.startsWith(START_FAILURE_PREFIX)) {
      const reason = report.slice(START_FAILURE_PREFIX.length).trim() as StartFailureReason;
      throw startFailureError(reason, argv, request.cwd, reason);
    }
    if (exitCode === 1 && report.startsWith('sudo: ')) {
      const first = report.split('\n')[0]!.replace(/^sudo: /, '');
      throw new SandboxError(
        'command-failed-to-start',
        `The command cannot run as ${request.user} in the sandbox (sudo: ${first}); run it as a user that exists there.`,
      );
    }
  }
  front.flush();
  return withOomCount(finishedResult(exitCode, { timedOut, cancelled }, started, stdout, stderr), front.oomCountBefore);
}

function writeStdin(channel: ClientChannel, prelude: string, stdin: ExecRequest['stdin']): void {
  if (prelude) channel.write(prelude);
  if (stdin === undefined) {
    channel.end();
  } else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) {
    channel.end(stdin);
  } else {
    const onError = () => channel.end();
    stdin.on('error', onError);
    stdin.pipe(channel);
    // The caller's stream outlives this command (a CLI's stdin): leave it as it was found.
    channel.once('close', () => {
      stdin.unpipe(channel);
      stdin.removeListener('error', onError);
    });
  }
}

function killProcessTree(session: SshSession, marker: string, hasEnded: () => boolean): Promise<void> {
  return killProcessesWithEnv(session, `${EXEC_MARKER_ENV}=${marker}`, hasEnded);
}

/**
 * SIGTERM, a grace period, then SIGKILL until no process carries `assignment` (NAME=value) in
 * its environment; as the login user and through sudo as root.
 */
export async function killProcessesWithEnv(session: SshSession, assignment: string, hasEnded: () => boolean = () => false): Promise<void> {
  const args = (sig: string) => killTreeArgs(sig, assignment);
  const run = async (argv: string[]): Promise<number | null> => {
    let code: number | null = null;
    let onClose!: () => void;
    const closed = new Promise<void>((resolve) => (onClose = resolve));
    // Outside the channel limit: a kill must not wait behind the commands it is to end.
    const { channel, release } = await session.exec(
      argv.map(shellQuote).join(' '),
      undefined,
      (opened) => {
        opened.on('exit', (exit: number | null) => (code = exit));
        opened.on('close', () => onClose());
        opened.on('error', () => onClose());
        opened.resume();
        opened.stderr.resume();
      },
      { unlimited: true },
    );
    try {
      channel.end();
      await closed;
      return code;
    } finally {
      release();
    }
  };
  // sudo -n fails at once where it is not allowed; then only the login user's processes are reachable.
  const send = async (sig: 'TERM' | 'KILL') => {
    const codes = await Promise.all([run(args(sig)), run(['sudo', '-n', ...args(sig)])]);
    return codes.some((code) => code === 0);
  };
  await terminateTree(send, hasEnded);
}
