import { z } from 'zod';
import { editFile, listDir, readFile, writeFile } from './actions/files';
import { MAX_FILE_BYTES } from './fileScripts';
import { defineTool, type AnyTool } from './registry';
import { sandboxArgument } from './sandboxes';

const pathArgument = z.string().min(1).describe('A path in the sandbox; relative paths are in its workspace.');

export const readFileTool = defineTool({
  name: 'read_file',
  title: 'Read a file',
  description: `Reads a whole file of a sandbox (at most ${MAX_FILE_BYTES} bytes) as its agent user: UTF-8 text, or base64.`,
  input: { sandbox: sandboxArgument, path: pathArgument, encoding: z.enum(['utf8', 'base64']).optional().describe('utf8 (default) or base64.') },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  run: readFile,
});

export const writeFileTool = defineTool({
  name: 'write_file',
  title: 'Write a file',
  description: `Writes a whole file of a sandbox (at most ${MAX_FILE_BYTES} bytes) as its agent user, replacing it at once (written beside it, then renamed over it).`,
  input: {
    sandbox: sandboxArgument,
    path: pathArgument,
    content: z.string().describe('The new content.'),
    encoding: z.enum(['utf8', 'base64']).optional().describe('How content is written: utf8 (default) or base64.'),
    createParents: z.boolean().optional().describe('Make missing parent folders (default false).'),
  },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  run: writeFile,
});

export const listDirTool = defineTool({
  name: 'list_dir',
  title: 'List a folder',
  description: 'The entries of a folder of a sandbox (name, type, size), read as its agent user.',
  input: { sandbox: sandboxArgument, path: pathArgument.optional().describe('A folder; the workspace when left out.') },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  run: listDir,
});

export const editFileTool = defineTool({
  name: 'edit_file',
  title: 'Edit a file',
  description:
    'Replaces text in a file of a sandbox: old_string must occur exactly once (or give replaceAll). The file is read and written whole as the agent user.',
  input: {
    sandbox: sandboxArgument,
    path: pathArgument,
    old_string: z.string().min(1).describe('The text to replace, exactly as in the file.'),
    new_string: z.string().describe('What replaces it.'),
    replaceAll: z.boolean().optional().describe('Replace every occurrence (default: exactly one must exist).'),
  },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  run: editFile,
});

export const FILE_TOOLS: AnyTool[] = [readFileTool, writeFileTool, listDirTool, editFileTool];
