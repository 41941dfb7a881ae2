import { parseArgs } from 'node:util';
import type { SandboxController } from '../core/controller';
import { SandboxError } from '../core/errors';
import type { ExecRequest } from '../core/model';
import { parseSize } from '../core/profile';
import { EXIT } from './exitStatus';
import { parseDuration, parseEnvPairs } from './parse';

/** Where `sandbox exec` reads and writes: this process's own streams, or a client's over the exec socket. */
export interface ExecCommandIo {
  json: boolean;
  controller: SandboxController;
  signal: AbortSignal;
  stdout: (chunk: Buffer | string) => void;
  stderr: (chunk: Buffer | string) => void;
  /** The caller's stdin, asked for only with -i. */
  openStdin: () => NodeJS.ReadableStream;
  /** Done with stdin: whatever was not read would keep the caller alive after the command ended. */
  closeStdin: () => void;
  /** Whether the reader of stdout went away (`| head`): a cancelled command then ends quietly. */
  outputClosed: () => boolean;
}

/**
 * `sandbox exec NAME [options] -- CMD...` after the word exec (and without --json): one
 * implementation for the CLI and the exec socket, so both print and exit alike. Throws errors for
 * the caller to report as the CLI does.
 */
export async function runExecCommandLine(args: string[], io: ExecCommandIo): Promise<number> {
  const separator = args.indexOf('--');
  const before = separator < 0 ? args : args.slice(0, separator);
  const after = separator < 0 ? undefined : args.slice(separator + 1);
  const { values, positionals } = parseArgs({
    args: before,
    allowPositionals: true,
    strict: true,
    options: {
      cwd: { type: 'string' },
      env: { type: 'string', multiple: true },
      user: { type: 'string' },
      timeout: { type: 'string' },
      stdin: { type: 'boolean', short: 'i' },
      'max-output': { type: 'string' },
    },
  });
  if (!after || after.length === 0) throw new SandboxError('invalid-input', 'Put the command after --: sandbox exec NAME -- CMD.');
  if (positionals.length !== 1) throw new SandboxError('invalid-input', 'Give one sandbox: sandbox exec NAME -- CMD.');
  const ref = positionals[0]!;
  const timeoutMs = values.timeout !== undefined ? parseDuration(values.timeout, 'timeout') : undefined;
  if (timeoutMs === 0) throw new SandboxError('invalid-input', 'The timeout must be more than 0; leave it out for none.');
  const request: ExecRequest = {
    command: after.length === 1 ? after[0]! : after,
    cwd: values.cwd,
    env: values.env ? parseEnvPairs(values.env) : undefined,
    user: values.user,
    timeoutMs,
    maxOutputBytes: values['max-output'] !== undefined ? parseSize(values['max-output'], 'output cap') : undefined,
    stdin: values.stdin ? io.openStdin() : undefined,
    signal: io.signal,
    onStdout: io.json ? undefined : (chunk) => io.stdout(chunk),
    onStderr: io.json ? undefined : (chunk) => io.stderr(chunk),
  };
  let result;
  try {
    result = await io.controller.exec(ref, request);
  } finally {
    if (values.stdin) io.closeStdin();
  }
  if (io.json) io.stdout(JSON.stringify({ ...result, signal: result.signal ?? null }, null, 2) + '\n');
  else if (result.timedOut) io.stderr(`sandbox: the command ran past its ${values.timeout} timeout and was killed.\n`);
  else if (result.cancelled && !io.outputClosed()) io.stderr('sandbox: the command was cancelled and killed.\n');
  if (result.outOfMemory && !io.json) io.stderr(`sandbox: ${result.outOfMemory}\n`);
  if (result.timedOut) return EXIT.timeout;
  if (result.cancelled) return EXIT.cancelled;
  return result.exitCode ?? EXIT.failure;
}
