import { z } from 'zod';
import { MAX_CODE_TIMEOUT_SECONDS, runCodeAction } from './actions/code';
import { defineTool, type AnyTool } from './registry';
import { sandboxArgument } from './sandboxes';

export const runCodeTool = defineTool({
  name: 'run_code',
  title: 'Run Python code',
  description:
    "Runs Python in the sandbox's IPython kernel, as its agent user in its workspace; the kernel keeps its state (variables, imports) between calls. " +
    'Returns the printed output, the value of the last expression, figures (a matplotlib plot) as PNG images, and for an exception the traceback, flagged as an error. ' +
    'Each stream is cut at 64 KiB; at most 4 images of up to 1 MiB each. Past the timeout (default 300 s) the code is interrupted and the state stays.',
  input: {
    sandbox: sandboxArgument,
    code: z
      .string()
      .min(1)
      .max(1024 * 1024)
      .describe('Python source, run as one notebook cell.'),
    timeout: z.number().positive().max(MAX_CODE_TIMEOUT_SECONDS).optional().describe('Seconds; the code is interrupted when it passes.'),
  },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  run: runCodeAction,
});

export const CODE_TOOLS: AnyTool[] = [runCodeTool];
