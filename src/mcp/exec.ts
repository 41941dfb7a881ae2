import { z } from 'zod';
import { MAX_TIMEOUT_SECONDS, execCommand } from './actions/exec';
import { defineTool, type AnyTool } from './registry';
import { sandboxArgument } from './sandboxes';

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
  run: execCommand,
});

export const EXEC_TOOLS: AnyTool[] = [execTool];
