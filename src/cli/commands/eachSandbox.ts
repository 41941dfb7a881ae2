import { EXIT, exitStatusOf } from '../../app/exitStatus';
import { SandboxError, describeError, isSandboxError } from '../../core/errors';
import type { SandboxRecord } from '../../core/model';
import { parse, type Context } from '../command';

/** Commands over several sandboxes (stop, rm): each is tried, and what failed is said with what got done. */
export function manyRefs(args: string[], verb: string): string[] {
  const { positionals } = parse(args, {});
  if (positionals.length === 0) throw new SandboxError('invalid-input', `Name at least one sandbox: sandbox ${verb} NAME...`);
  return positionals;
}

/** `past`: the verb said of each sandbox done (`Stopped`), or the whole line for one. */
export async function forEachRef(
  refs: string[],
  context: Context,
  action: (ref: string) => Promise<SandboxRecord>,
  past: string | ((record: SandboxRecord) => string),
): Promise<number> {
  const done: SandboxRecord[] = [];
  const errors: { ref: string; code: string; message: string }[] = [];
  let failure: unknown;
  for (const ref of refs) {
    try {
      const record = await action(ref);
      done.push(record);
      if (!context.json) context.out(typeof past === 'string' ? `${past} ${record.name} (${record.id}).` : past(record));
    } catch (error) {
      failure ??= error;
      errors.push({ ref, code: isSandboxError(error) ? error.code : 'internal', message: describeError(error) });
      if (!context.json) process.stderr.write(`sandbox: ${describeError(error)}\n`);
    }
  }
  // The same error shape as every other command, plus what did get done.
  if (context.json) context.printJson(errors.length > 0 ? { error: errors[0], errors, done } : done);
  if (failure) return exitStatusOf(failure);
  return EXIT.ok;
}
