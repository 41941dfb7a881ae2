import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { version } from '../../package.json';
import type { SandboxController } from '../core/controller';
import { CODE_TOOLS } from './code';
import { DESKTOP_TOOLS } from './desktop';
import { EXEC_TOOLS } from './exec';
import { FILE_TOOLS } from './files';
import { registerTools, type AnyTool } from './registry';
import { registerResources } from './resources';
import { foldersOfRootUris, type HostRoots } from './roots';
import { SANDBOX_TOOLS } from './sandboxes';
import { SYNC_TOOLS } from './sync';
import { TASK_TOOLS } from './tasks';

/** Every tool of the server, in the order it lists them. */
export const TOOLS: readonly AnyTool[] = [...SANDBOX_TOOLS, ...EXEC_TOOLS, ...CODE_TOOLS, ...FILE_TOOLS, ...SYNC_TOOLS, ...DESKTOP_TOOLS, ...TASK_TOOLS];

const INSTRUCTIONS = `Sandboxes are isolated machines for your work. Make one (sandbox_create), run commands in it (exec) and Python in its kernel (run_code), read and write its files (read_file, write_file, edit_file, list_dir), copy folders in and out (sync_push, sync_pull), and delete it when done (sandbox_delete). Paths in a sandbox are relative to its workspace.`;

/**
 * The roots of a connected client: what it lists through MCP roots when it declares them (asked
 * at each use, so a change is seen), else the server's own.
 */
function clientRoots(server: McpServer, fallback: HostRoots): HostRoots {
  return {
    async folders() {
      if (!server.server.getClientCapabilities()?.roots) return fallback.folders();
      const { roots } = await server.server.listRoots();
      return foldersOfRootUris(roots.map((root) => root.uri));
    },
  };
}

/** The MCP server over one controller: its tools and resources. */
export function createMcpServer(controller: SandboxController, roots: HostRoots): McpServer {
  const server = new McpServer({ name: 'agent-sandboxes', title: 'Agent Sandboxes', version }, { instructions: INSTRUCTIONS, capabilities: { logging: {} } });
  registerTools(server.server, TOOLS, { controller, roots: clientRoots(server, roots) });
  registerResources(server, controller);
  return server;
}
