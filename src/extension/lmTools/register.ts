import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ToolResult } from '../../mcp/toolKit';
import type { Cockpit } from '../cockpit';
import { launcherTarget } from '../commands/installCli';
import { loadCore } from '../lazyCore';
import { screenshotFileName } from '../presentation';
import { LANGUAGE_MODEL_TOOLS, confirmationFor, invocationMessage, type LanguageModelToolSpec } from './catalog';
import { checkToolInput, type JsonSchema } from './inputCheck';
import { mcpServerLaunch } from './mcpServerLaunch';

/** The id of our MCP server-definition provider (package.json contributes.mcpServerDefinitionProviders). */
export const MCP_PROVIDER_ID = 'agentSandboxes.mcpServer';

type Input = Record<string, unknown>;

/** Tools after which the Sandboxes view lists anew. */
const CHANGES_SANDBOXES = new Set(['sandbox_create', 'sandbox_start', 'sandbox_stop', 'sandbox_delete']);

/** The input schemas package.json declares, by tool name: the one copy VS Code and this check share. */
function contributedSchemas(context: vscode.ExtensionContext): Map<string, JsonSchema> {
  const contributed = (context.extension.packageJSON as { contributes?: { languageModelTools?: { name: string; inputSchema?: JsonSchema }[] } }).contributes
    ?.languageModelTools;
  return new Map((contributed ?? []).map((tool) => [tool.name, tool.inputSchema ?? {}]));
}

/** An image part where the running VS Code has LanguageModelDataPart (1.104 and later; the 1.100 typings lack it). */
function imagePart(png: Buffer): unknown {
  const dataPart = (vscode as unknown as { LanguageModelDataPart?: { image?(data: Uint8Array, mime: string): unknown } }).LanguageModelDataPart;
  try {
    return typeof dataPart?.image === 'function' ? dataPart.image(png, 'image/png') : undefined;
  } catch {
    return undefined;
  }
}

/** A tool's result as chat takes it: text as text; an image saved as a file the text names (and as image data where supported). */
function languageModelResult(cockpit: Cockpit, tool: LanguageModelToolSpec, input: Input, result: ToolResult): vscode.LanguageModelToolResult {
  const parts: unknown[] = [];
  // A screenshot, or the figures run_code's plots made (several in one second: numbered).
  const kind = tool.mcpName === 'screenshot' ? 'screenshot' : 'figure';
  let images = 0;
  for (const part of result.content) {
    if (part.type === 'text') {
      parts.push(new vscode.LanguageModelTextPart(part.text));
      continue;
    }
    const png = Buffer.from(part.data, 'base64');
    const folder = path.join(cockpit.context.globalStorageUri.fsPath, `${kind}s`);
    mkdirSync(folder, { recursive: true });
    // The name comes from the model: only safe characters reach the file name.
    const name = String(input.sandbox ?? tool.name).replace(/[^A-Za-z0-9._-]/g, '-');
    const file = path.join(folder, screenshotFileName(kind === 'figure' ? `${name}-figure-${++images}` : name));
    writeFileSync(file, png, { mode: 0o600 });
    parts.push(new vscode.LanguageModelTextPart(`Saved the ${kind} as ${file}.`));
    const image = imagePart(png);
    if (image) parts.push(image);
  }
  return new vscode.LanguageModelToolResult(parts as vscode.LanguageModelTextPart[]);
}

/** One of our tools as VS Code calls it. */
export type SandboxLanguageModelTool = vscode.LanguageModelTool<Input> & Required<Pick<vscode.LanguageModelTool<Input>, 'prepareInvocation'>>;

function toolOf(cockpit: Cockpit, spec: LanguageModelToolSpec, schema: JsonSchema, ready: () => Promise<unknown>): SandboxLanguageModelTool {
  return {
    prepareInvocation(options) {
      const confirmation = confirmationFor(spec, options.input ?? {});
      return { invocationMessage: invocationMessage(spec, options.input ?? {}), ...(confirmation ? { confirmationMessages: confirmation } : {}) };
    },
    async invoke(options, token) {
      const refused = checkToolInput(spec.name, schema, options.input);
      // VS Code gives the model a thrown error's message: one sentence.
      if (refused) throw new Error(refused);
      // A cloud sandbox is reached with the token VS Code keeps, handed to the core first.
      await ready();
      const abort = new AbortController();
      const cancelled = token.onCancellationRequested(() => abort.abort());
      try {
        const outcome = await loadCore().callToolAction(
          spec.mcpName,
          options.input,
          {
            controller: cockpit.controller,
            // Host folders a call may name (a workspace to push): those open in this window.
            roots: { folders: async () => (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath) },
            signal: abort.signal,
            progress: () => undefined,
          },
          `vscode/${spec.name}`,
        );
        if (!outcome.ok) throw new Error(outcome.message);
        if (CHANGES_SANDBOXES.has(spec.mcpName)) cockpit.scheduleRefresh();
        return languageModelResult(cockpit, spec, options.input, outcome.result);
      } finally {
        cancelled.dispose();
      }
    },
  };
}

/**
 * The sandbox tools for chat agents (vscode.lm.registerTool), each running the MCP server's
 * logic in this window's controller; destructive ones ask the user first.
 */
export function registerLanguageModelTools(
  cockpit: Cockpit,
  ready: () => Promise<unknown>,
): { tools: ReadonlyMap<string, SandboxLanguageModelTool>; registrations: vscode.Disposable[] } {
  const schemas = contributedSchemas(cockpit.context);
  const tools = new Map(LANGUAGE_MODEL_TOOLS.map((spec) => [spec.name, toolOf(cockpit, spec, schemas.get(spec.name) ?? {}, ready)]));
  if (typeof vscode.lm?.registerTool !== 'function') return { tools, registrations: [] };
  return { tools, registrations: [...tools].map(([name, tool]) => vscode.lm.registerTool<Input>(name, tool)) };
}

/** VS Code 1.101's MCP server-definition API, typed here since the 1.100 typings lack it. */
interface McpApi {
  registerMcpServerDefinitionProvider(
    id: string,
    provider: { onDidChangeMcpServerDefinitions?: vscode.Event<void>; provideMcpServerDefinitions(): unknown[] },
  ): vscode.Disposable;
}
type McpStdioServerDefinitionClass = new (label: string, command: string, args?: string[], env?: Record<string, string>, version?: string) => unknown;

/**
 * Offers `sandbox mcp` to the MCP clients inside VS Code, where it has the server-definition
 * API (1.101 and later) and this copy of the CLI has the server (dist/mcp.js). Returns whether it did.
 */
export function registerMcpServerDefinition(cockpit: Cockpit): vscode.Disposable | undefined {
  const lm = vscode.lm as unknown as Partial<McpApi>;
  const Definition = (vscode as unknown as { McpStdioServerDefinition?: McpStdioServerDefinitionClass }).McpStdioServerDefinition;
  if (typeof lm.registerMcpServerDefinitionProvider !== 'function' || typeof Definition !== 'function') return undefined;
  const changed = new vscode.EventEmitter<void>();
  const version = (cockpit.context.extension.packageJSON as { version?: string }).version;
  let registration: vscode.Disposable;
  try {
    registration = lm.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, {
      onDidChangeMcpServerDefinitions: changed.event,
      provideMcpServerDefinitions: () => {
        const launch = mcpServerLaunch(launcherTarget(cockpit.context), cockpit.stateDir(), existsSync);
        return launch ? [new Definition('Agent Sandboxes', launch.command, launch.args, launch.env, version)] : [];
      },
    });
  } catch (error) {
    // Before 1.101 the function exists as a proposed API and refuses extensions that did not enable it.
    cockpit.log.info(`sandbox mcp is not offered to VS Code's MCP clients: ${(error as Error)?.message ?? String(error)}`);
    changed.dispose();
    return undefined;
  }
  // A new state dir setting changes the server's environment.
  const watching = vscode.workspace.onDidChangeConfiguration((event) => event.affectsConfiguration('sandboxes.stateDir') && changed.fire());
  return vscode.Disposable.from(registration, watching, changed);
}
