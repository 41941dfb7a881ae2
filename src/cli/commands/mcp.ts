import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../app/exitStatus';
import { SandboxError } from '../../core/errors';
import type { serveMcp } from '../../mcp/main';
import { isDirectory, parse, type Command } from '../command';

/**
 * The MCP server is its own bundle (dist/mcp.js, with the MCP SDK), loaded only here: every other
 * command starts without it. From compiled sources (tests), its module beside this one's tree.
 */
function loadServer(): typeof serveMcp {
  const candidates = [path.join(__dirname, 'mcp.js'), path.join(__dirname, '..', '..', 'mcp', 'main.js')];
  const file = candidates.find((candidate) => existsSync(candidate));
  if (!file) {
    // The extension's copy of the CLI: the .vsix leaves the server out to stay within its size budget.
    throw new SandboxError(
      'not-found',
      `This copy of the sandbox CLI has no MCP server (mcp.js beside ${__dirname}); run \`node dist/cli.js mcp\` from a build of the repository (npm ci && npm run build).`,
    );
  }
  return (createRequire(__filename)(file) as { serveMcp: typeof serveMcp }).serveMcp;
}

export const mcpCommand: Command = {
  name: 'mcp',
  usage: [['mcp [--root DIR]...', 'serve the Model Context Protocol on stdio, for agents (docs/mcp.md)']],
  help: `Usage: sandbox mcp [--root DIR]...
Serves the Model Context Protocol on stdin/stdout for an MCP client (an agent): tools to make
sandboxes, run commands, read and write files, sync, forward ports, see and drive desktops and
queue tasks, on the sandboxes of this state dir. Runs until the client closes stdin.
  --root DIR   a host folder sync and workspace paths may name (repeatable), for clients that
               declare no MCP roots; without it, the folder the server starts in
A client that declares roots confines host paths to those. See docs/mcp.md for client settings.`,
  async run(args, context) {
    const { values, positionals } = parse(args, { root: { type: 'string', multiple: true } });
    if (positionals.length > 0) throw new SandboxError('invalid-input', `Unexpected argument ${positionals[0]}: sandbox mcp [--root DIR]...`);
    const roots = (values.root ?? []).map((root) => path.resolve(root));
    for (const root of roots) {
      if (!isDirectory(root)) throw new SandboxError('invalid-input', `The root ${root} is not a folder; give existing folders with --root.`);
    }
    await loadServer()({ roots, signal: context.signal });
    return EXIT.ok;
  },
};
