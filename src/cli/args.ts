/** Splits argv at the first `--`: options before it, the command after it. */
export function splitAtDoubleDash(args: string[]): { before: string[]; after: string[] | undefined } {
  const index = args.indexOf('--');
  if (index < 0) return { before: args, after: undefined };
  return { before: args.slice(0, index), after: args.slice(index + 1) };
}
