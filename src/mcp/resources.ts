import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError, type ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import { formatLogEntry } from '../app/format';
import type { SandboxController } from '../core/controller';
import { describeError } from '../core/errors';
import { sandboxView } from './views';

/** Log lines a logs resource holds: the latest ones. */
const LOG_LINES = 500;

/** The sandbox a resource URI names, decoded; a malformed one is the client's error, told in one sentence. */
function nameOf(variables: Record<string, string | string[]>, uri: URL): string {
  const raw = variables.name;
  const text = Array.isArray(raw) ? raw[0] : raw;
  try {
    const name = decodeURIComponent(text ?? '');
    if (name === '') throw new Error('empty');
    return name;
  } catch {
    throw new McpError(ErrorCode.InvalidParams, `${uri.href} does not name a sandbox; use sandbox://NAME/status or sandbox://NAME/logs.`);
  }
}

/** A read that failed, as one sentence for the client, never a crash. */
function readError(error: unknown): McpError {
  return error instanceof McpError ? error : new McpError(ErrorCode.InvalidParams, describeError(error).split('\n')[0]!);
}

/** Each sandbox's status (JSON) and latest log lines (text), as resources sandbox://NAME/status and sandbox://NAME/logs. */
export function registerResources(server: McpServer, controller: SandboxController): void {
  const listed = (suffix: 'status' | 'logs', mimeType: string) => async () => ({
    resources: (await controller.list()).map((record) => ({
      uri: `sandbox://${encodeURIComponent(record.name)}/${suffix}`,
      name: `${record.name} ${suffix}`,
      mimeType,
    })),
  });
  server.registerResource(
    'sandbox-status',
    new ResourceTemplate('sandbox://{name}/status', { list: listed('status', 'application/json') }),
    { title: 'Sandbox status', description: 'A sandbox as it is now: state, provider, profile.', mimeType: 'application/json' },
    async (uri, variables): Promise<ReadResourceResult> => {
      try {
        const record = await controller.status(nameOf(variables, uri));
        return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(sandboxView(record), null, 2) }] };
      } catch (error) {
        throw readError(error);
      }
    },
  );
  server.registerResource(
    'sandbox-logs',
    new ResourceTemplate('sandbox://{name}/logs', { list: listed('logs', 'text/plain') }),
    { title: 'Sandbox logs', description: `A sandbox's output and its exec and sync history: the latest ${LOG_LINES} lines.`, mimeType: 'text/plain' },
    async (uri, variables): Promise<ReadResourceResult> => {
      try {
        const lines: string[] = [];
        for await (const entry of controller.logs(nameOf(variables, uri), { tail: LOG_LINES })) lines.push(formatLogEntry(entry));
        return { contents: [{ uri: uri.href, mimeType: 'text/plain', text: lines.slice(-LOG_LINES).join('\n') }] };
      } catch (error) {
        throw readError(error);
      }
    },
  );
}
