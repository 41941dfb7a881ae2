import { z } from 'zod';
import { SandboxError } from '../core/errors';
import { defineTool, jsonResult, type AnyTool } from './registry';
import { sandboxArgument } from './sandboxes';
import { sandboxOf } from './views';

/** Output kept in the result per stream; progress notifications carry all of it as it comes. */
const RESULT_OUTPUT_BYTES = 256 * 1024;
/** Longest wait a call may ask for. */
const MAX_TIMEOUT_SECONDS = 24 * 60 * 60;

export const execTool = defineTool({
  name: 'exec',
  title: 'Run a command',
  description:
    'Runs a command in a sandbox as its agent user, in its workspace unless cwd says otherwise: an argv array runs directly, a string runs in sh -c. ' +
    'Returns the exit code and output (each stream cut at 256 KiB). With a progress token, output streams as progress notifications; cancelling the call kills the command.',
  input: {
    sandbox: sandboxArgument,
    command: z.union([z.array(z.string()).min(1), z.string().min(1)]).describe('argv (run directly) or a shell string (run by sh -c).'),
    cwd: z.string().optional().describe('Working directory, relative to the workspace.'),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string())
      .optional()
      .describe('Environment variables.'),
    timeout: z.number().positive().max(MAX_TIMEOUT_SECONDS).optional().describe('Seconds; the command is killed when it passes.'),
  },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  async run(args, context) {
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
  },
});

export const EXEC_TOOLS: AnyTool[] = [execTool];
