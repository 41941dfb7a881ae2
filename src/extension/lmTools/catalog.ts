/**
 * The sandbox tools VS Code's chat agents get as language-model tools: the MCP server's tools
 * that need no MCP session, under names that say they are ours. Their schemas and descriptions
 * are in package.json (contributes.languageModelTools), kept equal to the MCP server's by a unit
 * test. No vscode import here: the pure half, tested on its own.
 */

export interface LanguageModelToolSpec {
  /** The name VS Code knows it by (package.json). */
  name: string;
  /** The MCP tool whose logic it runs. */
  mcpName: string;
  /** Whether it may destroy something: a chat asks the user first. */
  destructive: boolean;
}

function spec(mcpName: string, destructive: boolean): LanguageModelToolSpec {
  return { name: languageModelToolName(mcpName), mcpName, destructive };
}

/** `sandbox_list` stays as it is; `exec` becomes `sandbox_exec`, so no tool of another extension is shadowed. */
export function languageModelToolName(mcpName: string): string {
  return mcpName.startsWith('sandbox_') ? mcpName : `sandbox_${mcpName}`;
}

export const LANGUAGE_MODEL_TOOLS: readonly LanguageModelToolSpec[] = [
  spec('sandbox_list', false),
  spec('sandbox_status', false),
  spec('sandbox_create', false),
  spec('sandbox_start', false),
  spec('sandbox_stop', true),
  spec('sandbox_delete', true),
  spec('exec', true),
  spec('run_code', true),
  spec('read_file', false),
  spec('write_file', true),
  spec('edit_file', true),
  spec('list_dir', false),
  spec('screenshot', false),
  spec('desktop_input', true),
  spec('task_add', false),
  spec('task_status', false),
  spec('task_cancel', true),
  spec('task_logs', false),
];

/** What a chat shows before a destructive call runs. */
export interface ConfirmationText {
  title: string;
  message: string;
}

const MAX_SHOWN_CHARS = 300;

function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : Array.isArray(value) ? value.map(String).join(' ') : JSON.stringify(value ?? '');
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS - 1)}…` : text;
}

/** The confirmation a destructive call asks for, saying what it will do to what; none for the others. */
export function confirmationFor(tool: LanguageModelToolSpec, input: Record<string, unknown>): ConfirmationText | undefined {
  if (!tool.destructive) return undefined;
  const sandbox = shown(input.sandbox);
  switch (tool.mcpName) {
    case 'sandbox_stop':
      return { title: `Stop sandbox ${sandbox}?`, message: `Its processes end; its files stay for a later start.` };
    case 'sandbox_delete':
      return { title: `Delete sandbox ${sandbox}?`, message: `It is removed with everything in it, for good.` };
    case 'exec':
      return { title: `Run a command in sandbox ${sandbox}?`, message: `Runs: ${shown(input.command)}${input.cwd ? ` (in ${shown(input.cwd)})` : ''}` };
    case 'run_code':
      return { title: `Run Python in sandbox ${sandbox}?`, message: `Runs in its kernel: ${shown(input.code)}` };
    case 'write_file':
      return {
        title: `Write a file in sandbox ${sandbox}?`,
        message: `Replaces ${shown(input.path)} with ${typeof input.content === 'string' ? input.content.length : 0} characters.`,
      };
    case 'edit_file':
      return { title: `Edit a file in sandbox ${sandbox}?`, message: `Replaces text in ${shown(input.path)}.` };
    case 'desktop_input':
      return { title: `Drive the desktop of sandbox ${sandbox}?`, message: `Sends a ${shown(input.action)} to its desktop.` };
    case 'task_cancel':
      return { title: `Cancel task ${shown(input.task)}?`, message: `A running task has its processes killed.` };
    default:
      return { title: `Run ${tool.name}?`, message: `It may change or remove what is in the sandbox.` };
  }
}

/** The line a chat shows while a call runs. */
export function invocationMessage(tool: LanguageModelToolSpec, input: Record<string, unknown>): string {
  const target = typeof input.sandbox === 'string' ? ` in ${shown(input.sandbox)}` : typeof input.task === 'string' ? ` for task ${shown(input.task)}` : '';
  return `Running ${tool.name}${target}`;
}
