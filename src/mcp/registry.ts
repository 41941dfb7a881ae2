import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { SandboxController } from '../core/controller';
import { describeError, isSandboxError, type SandboxErrorCode } from '../core/errors';
import { redactArguments } from './redact';
import type { HostRoots } from './roots';

/** What a tool runs with: the server's controller, the host folders open to it, and this call's cancel and progress. */
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
export type Hints = Required<Pick<ToolAnnotations, 'readOnlyHint' | 'destructiveHint' | 'idempotentHint'>> & Pick<ToolAnnotations, 'openWorldHint'>;

export interface ToolDefinition<Shape extends z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  input: Shape;
  hints: Hints;
  run(args: z.infer<z.ZodObject<Shape>>, context: ToolContext): Promise<CallToolResult>;
}

/** A tool of any arguments, as the registry holds it. */
export type AnyTool = ToolDefinition<z.ZodRawShape>;

/** Keeps a tool's argument types from its schema while it is written, and erases them for the registry. */
export function defineTool<Shape extends z.ZodRawShape>(tool: ToolDefinition<Shape>): AnyTool {
  return tool as unknown as AnyTool;
}

/** A result of plain text. */
export function textResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }] };
}

/** A result of a value, as JSON text (what the CLI's --json prints) and as structured content. */
export function jsonResult(value: Record<string, unknown> | unknown[]): CallToolResult {
  const structured = Array.isArray(value) ? { items: value } : value;
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: structured };
}

/** A refusal or failure as the client sees it: one sentence, flagged as a tool error. */
export function errorResult(message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}

/** One sentence of any error: a SandboxError says it already; anything else is cut at its first line. */
export function oneSentence(error: unknown, cancelled: boolean): { message: string; code?: SandboxErrorCode } {
  if (isSandboxError(error)) return { message: error.message, code: error.code };
  if (cancelled) return { message: 'The call was cancelled.', code: 'cancelled' };
  const first = describeError(error).split('\n')[0]!.trim();
  return { message: first === '' ? 'The call failed for an unknown reason; see the server log.' : first };
}

interface JournalSink {
  controller: SandboxController;
  roots: HostRoots;
}

/**
 * Registers each tool on the server: its schema and hints, and a handler that never throws (a
 * failure is a tool error of one sentence) and journals every call as an `mcp.call` event.
 */
export function registerTools(server: McpServer, tools: readonly AnyTool[], sink: JournalSink): void {
  for (const tool of tools) {
    server.registerTool(
      tool.name,
      { title: tool.title, description: tool.description, inputSchema: tool.input, annotations: { title: tool.title, ...tool.hints } },
      async (args: Record<string, unknown>, extra): Promise<CallToolResult> => {
        const started = Date.now();
        const progressToken = extra._meta?.progressToken;
        let sandboxId = '';
        const context: ToolContext = {
          controller: sink.controller,
          roots: sink.roots,
          signal: extra.signal,
          progress: (progress, message) => {
            if (progressToken === undefined) return;
            extra
              .sendNotification({ method: 'notifications/progress', params: { progressToken, progress, ...(message !== undefined ? { message } : {}) } })
              .catch(() => undefined);
          },
          actsOn: (id) => (sandboxId = id),
        };
        let result: CallToolResult;
        let failure: { message: string; code?: SandboxErrorCode } | undefined;
        try {
          result = await tool.run(args as never, context);
          if (result.isError) failure = { message: result.content.map((part) => (part.type === 'text' ? part.text : '')).join(' ') };
        } catch (error) {
          failure = oneSentence(error, extra.signal.aborted);
          result = errorResult(failure.message);
        }
        await sink.controller.events
          .emit({
            type: 'mcp.call',
            sandboxId,
            tool: tool.name,
            arguments: redactArguments(args),
            result: failure ? 'error' : 'ok',
            ...(failure?.code ? { errorCode: failure.code } : {}),
            ...(failure ? { error: failure.message } : {}),
            durationMs: Date.now() - started,
          })
          .catch(() => undefined);
        return result;
      },
    );
  }
}
