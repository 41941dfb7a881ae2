import { codeResultText } from '../../core/interpreter/codeResult';
import { runCode } from '../../core/interpreter/runCode';
import type { ToolAction, ToolContent, ToolResult } from '../toolKit';
import { sandboxOf } from '../views';

/** Longest a call may ask the code to run. */
export const MAX_CODE_TIMEOUT_SECONDS = 60 * 60;

export interface RunCodeArgs {
  sandbox: string;
  code: string;
  timeout?: number;
}

/** The kernel's answer: its text (output, value, traceback), then each figure as a PNG; an exception is a tool error. */
export const runCodeAction: ToolAction<RunCodeArgs> = async (args, context): Promise<ToolResult> => {
  const record = await sandboxOf(args.sandbox, context);
  const result = await runCode(context.controller, record.id, args.code, {
    timeoutMs: args.timeout !== undefined ? Math.round(args.timeout * 1000) : undefined,
    signal: context.signal,
  });
  const content: ToolContent[] = [{ type: 'text', text: codeResultText(result) }];
  for (const png of result.images) content.push({ type: 'image', data: png, mimeType: 'image/png' });
  const { images: _images, ...summary } = result;
  return {
    content,
    structuredContent: { ...summary, imageCount: result.images.length },
    ...(result.status === 'ok' ? {} : { isError: true }),
  };
};
