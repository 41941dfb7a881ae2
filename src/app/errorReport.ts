import { SandboxError, describeError, isSandboxError } from '../core/errors';
import { errorShape, exitStatusOf } from './exitStatus';

/** Where a command line's error goes: stdout for --json, stderr for people. */
export interface ErrorOutput {
  json: boolean;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * Reports an error of a command line as the CLI does (one sentence, or `{"error": ...}` with
 * --json) and returns its exit status. `aborted` says Ctrl-C came first: an unknown error is then
 * the cancel's.
 */
export function reportCommandError(error: unknown, output: ErrorOutput, aborted: boolean): number {
  const sandboxError = isSandboxError(error) ? error : aborted ? new SandboxError('cancelled', 'Cancelled.') : parseError(error);
  const known = sandboxError ?? error;
  if (output.json) {
    output.stdout(JSON.stringify({ error: errorShape(known) }) + '\n');
  } else {
    output.stderr(`sandbox: ${describeError(known)}\n`);
    if (!sandboxError && process.env.SANDBOX_DEBUG) output.stderr(`${(error as Error)?.stack}\n`);
  }
  return exitStatusOf(known);
}

/** Node's argument parser speaks in paragraphs; say it in one sentence. */
function parseError(error: unknown): SandboxError | undefined {
  const code = (error as { code?: string })?.code;
  if (!code?.startsWith('ERR_PARSE_ARGS_')) return undefined;
  const message = describeError(error);
  const option = /'(-[^' ]+)/.exec(message)?.[1] ?? /"(-[^"]+)"/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    return new SandboxError('invalid-input', `Unknown option ${option ?? ''}; see \`sandbox help\` for the options.`.replace('  ', ' '));
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return new SandboxError(
      'invalid-input',
      `The option ${option ?? ''} needs a value (write a negative one as --option=-1); see \`sandbox help\`.`.replace('  ', ' '),
    );
  }
  return new SandboxError('invalid-input', `Unexpected argument ${/"([^"]+)"/.exec(message)?.[1] ?? ''}; see \`sandbox help\`.`.replace('  ', ' '));
}
