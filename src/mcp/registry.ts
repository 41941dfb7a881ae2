import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { SandboxController } from '../core/controller';
import { SandboxError, isSandboxError, type SandboxErrorCode } from '../core/errors';
import type { HostRoots } from './roots';
import { errorResult, failureSummary, journalToolCall, oneSentence, type Hints, type ToolContext, type ToolResult } from './toolKit';

export { errorResult, jsonResult, oneSentence, textResult, type Hints, type ToolContext, type ToolResult } from './toolKit';

export interface ToolDefinition<Shape extends z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  input: Shape;
  hints: Hints;
  run(args: z.infer<z.ZodObject<Shape>>, context: ToolContext): Promise<ToolResult>;
}

/** A tool of any arguments, as the registry holds it. */
export type AnyTool = ToolDefinition<z.ZodRawShape>;

/** Keeps a tool's argument types from its schema while it is written, and erases them for the registry. */
export function defineTool<Shape extends z.ZodRawShape>(tool: ToolDefinition<Shape>): AnyTool {
  return tool as unknown as AnyTool;
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
    let result: ToolResult;
    let failure: { message: string; code?: SandboxErrorCode } | undefined;
    try {
      const parsed = found.schema.safeParse(raw);
      if (!parsed.success) throw new SandboxError('invalid-input', argumentsError(found.tool.name, parsed.error, raw));
      result = await found.tool.run(parsed.data, context);
      if (result.isError) failure = { message: failureSummary(result) };
      // The client gets no answer to a cancelled call; the journal says what became of it.
      else if (extra.signal.aborted) failure = { message: 'The call was cancelled.', code: 'cancelled' };
    } catch (error) {
      failure = oneSentence(error, extra.signal.aborted);
      // What no sentence of ours explains goes to stderr, which MCP clients keep as the server's log.
      if (!isSandboxError(error) && !extra.signal.aborted)
        process.stderr.write(`sandbox mcp: ${found.tool.name}: ${(error as Error)?.stack ?? String(error)}\n`);
      result = errorResult(failure.message);
    }
    await journalToolCall(sink.controller, { tool: found.tool.name, sandboxId, arguments: raw, failure, durationMs: Date.now() - started });
    return result as CallToolResult;
  });
}
