import { SandboxError, isSandboxError } from '../../core/errors';
import { failureSummary, journalToolCall, oneSentence, resultText, type ToolContext, type ToolResult } from '../toolKit';
import { TOOL_ACTIONS } from './index';

/** How a call ended: its result, or the one sentence of its failure. */
export type ToolCallOutcome = { ok: true; result: ToolResult } | { ok: false; message: string };

/**
 * Runs one tool outside an MCP session (arguments already checked against its schema) and
 * journals it like the server's calls, under `journalName`: a failure becomes one sentence,
 * never a throw.
 */
export async function callToolAction(
  name: string,
  args: Record<string, unknown>,
  context: Omit<ToolContext, 'actsOn'>,
  journalName: string,
): Promise<ToolCallOutcome> {
  const started = Date.now();
  let sandboxId = '';
  const full: ToolContext = { ...context, actsOn: (id) => (sandboxId = id) };
  let outcome: ToolCallOutcome;
  let failure: { message: string; code?: SandboxError['code'] } | undefined;
  try {
    const action = TOOL_ACTIONS[name];
    if (!action) throw new SandboxError('invalid-input', `There is no tool ${name}.`);
    const result = await (action as (args: Record<string, unknown>, context: ToolContext) => Promise<ToolResult>)(args, full);
    // The caller gets an error result's whole text (a traceback); the journal its summary.
    if (result.isError) {
      failure = { message: failureSummary(result) };
      outcome = { ok: false, message: resultText(result) };
    } else {
      if (context.signal.aborted) failure = { message: 'The call was cancelled.', code: 'cancelled' };
      outcome = failure ? { ok: false, message: failure.message } : { ok: true, result };
    }
  } catch (error) {
    failure = oneSentence(error, context.signal.aborted);
    if (!isSandboxError(error) && !context.signal.aborted) console.error(`${journalName}:`, error);
    outcome = { ok: false, message: failure.message };
  }
  await journalToolCall(context.controller, { tool: journalName, sandboxId, arguments: args, failure, durationMs: Date.now() - started });
  return outcome;
}
