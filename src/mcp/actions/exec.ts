import { SandboxError } from '../../core/errors';
import { jsonResult, type ToolAction } from '../toolKit';
import { sandboxOf } from '../views';

/** Output kept in the result per stream; progress notifications carry all of it as it comes. */
export const RESULT_OUTPUT_BYTES = 256 * 1024;
/** Longest wait a call may ask for. */
export const MAX_TIMEOUT_SECONDS = 24 * 60 * 60;

export interface ExecArgs {
  sandbox: string;
  command: string[] | string;
  cwd?: string;
  env?: Record<string, string>;
  timeout?: number;
}

export const execCommand: ToolAction<ExecArgs> = async (args, context) => {
  const record = await sandboxOf(args.sandbox, context);
  if (args.env && Object.keys(args.env).some((name) => name.startsWith('SANDBOX_'))) {
    throw new SandboxError('invalid-input', 'Env names starting with SANDBOX_ are kept for the product; pick another name.');
  }
  let streamed = 0;
  const onOutput = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    streamed += chunk.length;
    context.progress(streamed, stream === 'stdout' ? chunk.toString('utf8') : `[stderr] ${chunk.toString('utf8')}`);
  };
  const result = await context.controller.exec(record.id, {
    command: args.command,
    cwd: args.cwd,
    env: args.env,
    timeoutMs: args.timeout !== undefined ? Math.round(args.timeout * 1000) : undefined,
    maxOutputBytes: RESULT_OUTPUT_BYTES,
    signal: context.signal,
    onStdout: onOutput('stdout'),
    onStderr: onOutput('stderr'),
  });
  return jsonResult({
    exitCode: result.exitCode,
    ...(result.signal ? { signal: result.signal } : {}),
    stdout: result.stdout,
    stderr: result.stderr,
    truncated: result.truncated,
    timedOut: result.timedOut,
    cancelled: result.cancelled,
    durationMs: result.durationMs,
    ...(result.outOfMemory ? { outOfMemory: result.outOfMemory } : {}),
  });
};
