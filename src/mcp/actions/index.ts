import type { ToolAction } from '../toolKit';
import { runCodeAction } from './code';
import { desktopInput, takeScreenshot } from './desktop';
import { execCommand } from './exec';
import { editFile, listDir, readFile, writeFile } from './files';
import { createSandbox, deleteSandbox, listSandboxes, sandboxStatus, startSandbox, stopSandbox } from './sandboxes';
import { addTask, cancelTask, taskLogs, taskStatus } from './tasks';

/**
 * The logic of the tools that need no MCP session (no client roots asked for, no forward kept
 * for the server's life), by their MCP names: what VS Code's language-model tools run. Free of
 * zod and the SDK, so the extension's core bundle can carry it.
 */
export const TOOL_ACTIONS: Readonly<Record<string, ToolAction<never>>> = {
  sandbox_create: createSandbox,
  sandbox_list: listSandboxes,
  sandbox_status: sandboxStatus,
  sandbox_start: startSandbox,
  sandbox_stop: stopSandbox,
  sandbox_delete: deleteSandbox,
  exec: execCommand,
  run_code: runCodeAction,
  read_file: readFile,
  write_file: writeFile,
  list_dir: listDir,
  edit_file: editFile,
  screenshot: takeScreenshot,
  desktop_input: desktopInput,
  task_add: addTask,
  task_status: taskStatus,
  task_cancel: cancelTask,
  task_logs: taskLogs,
};
