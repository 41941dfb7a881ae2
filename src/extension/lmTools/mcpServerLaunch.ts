import * as path from 'node:path';

/**
 * How VS Code starts `sandbox mcp` for its MCP clients. No vscode import here: the pure half of
 * the registration, tested on its own.
 */

export interface McpServerLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
}

export interface CliLocation {
  /** The CLI bundle this extension ships (dist/cli.js). */
  cli: string;
  /** The editor's executable, or Node.js in code-server. */
  runtime: string;
  /** Whether the runtime is Electron, which runs a script only with ELECTRON_RUN_AS_NODE. */
  electron: boolean;
}

/**
 * The server's command line, or undefined when this copy of the CLI has no MCP server: the
 * packaged extension leaves dist/mcp.js (the MCP SDK) out to keep its size, so only a build of
 * the repository (npm run build) offers one.
 */
export function mcpServerLaunch(location: CliLocation, stateDir: string, exists: (file: string) => boolean): McpServerLaunch | undefined {
  if (!exists(location.cli) || !exists(path.join(path.dirname(location.cli), 'mcp.js'))) return undefined;
  return {
    command: location.runtime,
    args: [location.cli, 'mcp'],
    // The same sandboxes as the extension's (its stateDir setting).
    env: { AGENT_SANDBOXES_HOME: stateDir, ...(location.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {}) },
  };
}
