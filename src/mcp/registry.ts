import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type Tool,
  type ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { SandboxController } from '../core/controller';
import { SandboxError, describeError, isSandboxError, type SandboxErrorCode } from '../core/errors';
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

/** Bad arguments in one sentence: each wrong argument with what is wrong with it. */
export function argumentsError(toolName: string, error: z.ZodError, given: Record<string, unknown>): string {
  const problems = error.issues.slice(0, 5).map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join('.') : 'the arguments';
    const missing = issue.path.length === 1 && given[String(issue.path[0])] === undefined;
    return `${where} (${missing ? 'missing' : issue.message.replace(/^Invalid input: /, '')})`;
  });
  return `${toolName} was given bad arguments: ${problems.join('; ')}; see its input schema.`;
}

/**
 * Serves the tools on the server: their schemas and hints for tools/list, and for tools/call a
 * handler that checks the arguments itself, so that every call, refused ones too, is journalled
 * as an `mcp.call` event and answered with one sentence; nothing a tool throws crashes the server.
 */
export function registerTools(server: Server, tools: readonly AnyTool[], sink: JournalSink): void {
  const byName = new Map(tools.map((tool) => [tool.name, { tool, schema: z.object(tool.input) }]));
  const listing = tools.map((tool) => ({
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema: z.toJSONSchema(byName.get(tool.name)!.schema, { target: 'draft-7', io: 'input' }) as Tool['inputSchema'],
    annotations: { title: tool.title, ...tool.hints },
  }));
  server.registerCapabilities({ tools: {} });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listing }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const started = Date.now();
    const found = byName.get(request.params.name);
    if (!found) throw new McpError(ErrorCode.InvalidParams, `There is no tool ${request.params.name}; see tools/list.`);
    const raw = request.params.arguments ?? {};
    const progressToken = request.params._meta?.progressToken;
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
      const parsed = found.schema.safeParse(raw);
      if (!parsed.success) throw new SandboxError('invalid-input', argumentsError(found.tool.name, parsed.error, raw));
      result = await found.tool.run(parsed.data, context);
      if (result.isError) failure = { message: result.content.map((part) => (part.type === 'text' ? part.text : '')).join(' ') };
      // The client gets no answer to a cancelled call; the journal says what became of it.
      else if (extra.signal.aborted) failure = { message: 'The call was cancelled.', code: 'cancelled' };
    } catch (error) {
      failure = oneSentence(error, extra.signal.aborted);
      // What no sentence of ours explains goes to stderr, which MCP clients keep as the server's log.
      if (!isSandboxError(error) && !extra.signal.aborted)
        process.stderr.write(`sandbox mcp: ${found.tool.name}: ${(error as Error)?.stack ?? String(error)}\n`);
      result = errorResult(failure.message);
    }
    await sink.controller.events
      .emit({
        type: 'mcp.call',
        sandboxId,
        tool: found.tool.name,
        arguments: redactArguments(raw),
        result: failure ? 'error' : 'ok',
        ...(failure?.code ? { errorCode: failure.code } : {}),
        ...(failure ? { error: failure.message } : {}),
        durationMs: Date.now() - started,
      })
      .catch(() => undefined);
    return result;
  });
}
