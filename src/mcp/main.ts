import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { startExecSocketServer } from '../app/execSocketServer';
import { SandboxController } from '../core/controller';
import { describeError } from '../core/errors';
import { StateStore } from '../core/store/stateStore';
import { fixedRoots } from './roots';
import { createMcpServer } from './server';

export interface McpServeOptions {
  /** Host folders open to clients that declare no MCP roots (`--root`); the working directory when empty. */
  roots: string[];
  /** Ends the server (Ctrl-C, SIGTERM). */
  signal: AbortSignal;
}

/**
 * `sandbox mcp`: serves MCP over stdin/stdout until the client closes stdin or the signal aborts.
 * One controller for the server's life, so calls take the persistent channels (the exec agent,
 * SSH sessions) instead of opening new ones.
 */
export async function serveMcp(options: McpServeOptions): Promise<void> {
  // A promise some step left unhandled is told on stderr, not a crash of every client's session.
  const onUnhandled = (reason: unknown) => process.stderr.write(`sandbox mcp: ${describeError(reason)}\n`);
  process.on('unhandledRejection', onUnhandled);
  const store = new StateStore();
  const controller = new SandboxController({ store });
  // `sandbox exec` run by the agent beside us hands its calls to this controller (the exec agent).
  const execSocket = await startExecSocketServer({ stateRoot: store.root, controller, log: () => undefined }).catch(() => undefined);
  const server = createMcpServer(controller, fixedRoots(options.roots));
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
    process.stdin.once('close', () => resolve());
    if (options.signal.aborted) resolve();
    options.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  try {
    await server.connect(transport);
    await closed;
  } finally {
    await server.close().catch(() => undefined);
    await execSocket?.close().catch(() => undefined);
    controller.dispose();
    process.off('unhandledRejection', onUnhandled);
  }
}
