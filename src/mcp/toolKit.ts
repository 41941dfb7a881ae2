import type { SandboxController } from '../core/controller';
import { describeError, isSandboxError, type SandboxErrorCode } from '../core/errors';
import { redactArguments } from './redact';
import type { HostRoots } from './roots';

/**
 * What every tool needs, free of the MCP SDK and of zod: the tools' logic runs both in
 * `sandbox mcp` and in the VS Code extension's language-model tools, whose bundle carries neither.
 */

/** What a tool runs with: a controller, the host folders open to it, and this call's cancel and progress. */
export interface ToolContext {
  controller: SandboxController;
  roots: HostRoots;
  /** Aborted when the client cancels the call (or the server shuts down). */
  signal: AbortSignal;
  /** Reports progress when the client asked for it (gave a progress token); does nothing otherwise. */
  progress(progress: number, message?: string): void;
  /** Names the sandbox the call acts on, for the journal. */
  actsOn(sandboxId: string): void;
}

/** Hints for clients: whether a tool only reads, may destroy, and may be repeated to the same effect. */
export interface Hints {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint?: boolean;
}

export type ToolContent = { type: 'text'; text: string } | { type: 'image'; data: string; mimeType: string };

/** A tool's answer, shaped as MCP's CallToolResult so the server passes it on as it is. */
export interface ToolResult {
  content: ToolContent[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

/** The logic of one tool: its arguments already checked against its schema. */
export type ToolAction<Args> = (args: Args, context: ToolContext) => Promise<ToolResult>;

/** A result of plain text. */
export function textResult(text: string): ToolResult {
  return { content: [{ type: 'text', text }] };
}

/** A result of a value, as JSON text (what the CLI's --json prints) and as structured content. */
export function jsonResult(value: Record<string, unknown> | unknown[]): ToolResult {
  const structured = Array.isArray(value) ? { items: value } : value;
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: structured };
}

/** A refusal or failure as the client sees it: one sentence, flagged as a tool error. */
export function errorResult(message: string): ToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}

/** The text parts of a result, joined: what a tool error says. */
export function resultText(result: ToolResult): string {
  return result.content.map((part) => (part.type === 'text' ? part.text : '')).join(' ');
}

/** Longest failure the journal keeps of an error result. */
const JOURNALLED_FAILURE_CHARS = 300;

/**
 * What the journal keeps of an error result: the error it names (run_code's exception), else
 * its text's first line, cut short. The whole text (a traceback, what the code printed) may be
 * long and may show the code itself, which the journal keeps only the size of.
 */
export function failureSummary(result: ToolResult): string {
  const named = result.structuredContent?.error as { name?: unknown; value?: unknown } | undefined;
  const text = typeof named?.name === 'string' ? `${named.name}: ${String(named.value ?? '')}` : (resultText(result).split('\n')[0] ?? '');
  return text.length > JOURNALLED_FAILURE_CHARS ? `${text.slice(0, JOURNALLED_FAILURE_CHARS - 1)}…` : text;
}

/** One sentence of any error: a SandboxError says it already; anything else is cut at its first line. */
export function oneSentence(error: unknown, cancelled: boolean): { message: string; code?: SandboxErrorCode } {
  if (isSandboxError(error)) return { message: error.message, code: error.code };
  if (cancelled) return { message: 'The call was cancelled.', code: 'cancelled' };
  const first = describeError(error).split('\n')[0]!.trim();
  return { message: first === '' ? 'The call failed for an unknown reason; see the server log.' : first };
}

/** One ended tool call, as the journal keeps it. */
export interface ToolCallRecord {
  tool: string;
  sandboxId: string;
  arguments: Record<string, unknown>;
  failure?: { message: string; code?: SandboxErrorCode };
  durationMs: number;
}

/** Journals a tool call as an `mcp.call` event (arguments redacted); a journal that cannot be written does not fail the call. */
export async function journalToolCall(controller: SandboxController, call: ToolCallRecord): Promise<void> {
  await controller.events
    .emit({
      type: 'mcp.call',
      sandboxId: call.sandboxId,
      tool: call.tool,
      arguments: redactArguments(call.arguments),
      result: call.failure ? 'error' : 'ok',
      ...(call.failure?.code ? { errorCode: call.failure.code } : {}),
      ...(call.failure ? { error: call.failure.message } : {}),
      durationMs: call.durationMs,
    })
    .catch(() => undefined);
}
