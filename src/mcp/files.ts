import { z } from 'zod';
import { SandboxError } from '../core/errors';
import { MAX_FILE_BYTES, listSandboxDir, readSandboxFile, sandboxPath, writeSandboxFile } from './fileScripts';
import { defineTool, jsonResult, textResult, type AnyTool } from './registry';
import { sandboxArgument } from './sandboxes';
import { sandboxOf } from './views';

const pathArgument = z.string().min(1).describe('A path in the sandbox; relative paths are in its workspace.');

/** Text of a file's bytes, refused when they are not UTF-8 (the call can ask for base64). */
function asText(data: Buffer, target: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    throw new SandboxError('invalid-input', `${target} is not UTF-8 text; read it with encoding "base64".`);
  }
}

export const readFileTool = defineTool({
  name: 'read_file',
  title: 'Read a file',
  description: `Reads a whole file of a sandbox (at most ${MAX_FILE_BYTES} bytes) as its agent user: UTF-8 text, or base64.`,
  input: { sandbox: sandboxArgument, path: pathArgument, encoding: z.enum(['utf8', 'base64']).optional().describe('utf8 (default) or base64.') },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    const target = sandboxPath(record, args.path);
    const data = await readSandboxFile(context, record, target);
    return textResult(args.encoding === 'base64' ? data.toString('base64') : asText(data, target));
  },
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
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    const target = sandboxPath(record, args.path);
    const data = Buffer.from(args.content, args.encoding === 'base64' ? 'base64' : 'utf8');
    await writeSandboxFile(context, record, target, data, args.createParents ?? false);
    return jsonResult({ path: target, bytes: data.length });
  },
});

export const listDirTool = defineTool({
  name: 'list_dir',
  title: 'List a folder',
  description: 'The entries of a folder of a sandbox (name, type, size), read as its agent user.',
  input: { sandbox: sandboxArgument, path: pathArgument.optional().describe('A folder; the workspace when left out.') },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    const target = sandboxPath(record, args.path ?? '.');
    const { entries, truncated } = await listSandboxDir(context, record, target);
    return jsonResult({ path: target, entries, truncated });
  },
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
  async run(args, context) {
    const record = await sandboxOf(args.sandbox, context);
    const target = sandboxPath(record, args.path);
    const text = asText(await readSandboxFile(context, record, target), target);
    const occurrences = text.split(args.old_string).length - 1;
    if (occurrences === 0) throw new SandboxError('not-found', `The text to replace does not occur in ${target}; read the file and give it exactly.`);
    if (occurrences > 1 && !args.replaceAll) {
      throw new SandboxError('ambiguous', `The text to replace occurs ${occurrences} times in ${target}; give more context, or replaceAll.`);
    }
    const edited = text.split(args.old_string).join(args.new_string);
    await writeSandboxFile(context, record, target, Buffer.from(edited, 'utf8'), false);
    return jsonResult({ path: target, replaced: args.replaceAll ? occurrences : 1, bytes: Buffer.byteLength(edited) });
  },
});

export const FILE_TOOLS: AnyTool[] = [readFileTool, writeFileTool, listDirTool, editFileTool];
