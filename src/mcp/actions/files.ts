import { SandboxError } from '../../core/errors';
import { listSandboxDir, readSandboxFile, sandboxPath, writeSandboxFile } from '../fileScripts';
import { jsonResult, textResult, type ToolAction } from '../toolKit';
import { sandboxOf } from '../views';

/** Text of a file's bytes, refused when they are not UTF-8 (the call can ask for base64). */
function asText(data: Buffer, target: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    throw new SandboxError('invalid-input', `${target} is not UTF-8 text; read it with encoding "base64".`);
  }
}

export interface ReadFileArgs {
  sandbox: string;
  path: string;
  encoding?: 'utf8' | 'base64';
}

export interface WriteFileArgs {
  sandbox: string;
  path: string;
  content: string;
  encoding?: 'utf8' | 'base64';
  createParents?: boolean;
}

export interface ListDirArgs {
  sandbox: string;
  path?: string;
}

export interface EditFileArgs {
  sandbox: string;
  path: string;
  old_string: string;
  new_string: string;
  replaceAll?: boolean;
}

export const readFile: ToolAction<ReadFileArgs> = async (args, context) => {
  const record = await sandboxOf(args.sandbox, context);
  const target = sandboxPath(record, args.path);
  const data = await readSandboxFile(context, record, target);
  return textResult(args.encoding === 'base64' ? data.toString('base64') : asText(data, target));
};

export const writeFile: ToolAction<WriteFileArgs> = async (args, context) => {
  const record = await sandboxOf(args.sandbox, context);
  const target = sandboxPath(record, args.path);
  const data = Buffer.from(args.content, args.encoding === 'base64' ? 'base64' : 'utf8');
  await writeSandboxFile(context, record, target, data, args.createParents ?? false);
  return jsonResult({ path: target, bytes: data.length });
};

export const listDir: ToolAction<ListDirArgs> = async (args, context) => {
  const record = await sandboxOf(args.sandbox, context);
  const target = sandboxPath(record, args.path ?? '.');
  const { entries, truncated } = await listSandboxDir(context, record, target);
  return jsonResult({ path: target, entries, truncated });
};

export const editFile: ToolAction<EditFileArgs> = async (args, context) => {
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
};
