import { EXIT } from '../../app/exitStatus';
import { parseDuration, parseEnvPairs } from '../../app/parse';
import type { ExecRequest } from '../../core/model';
import { SandboxError } from '../../core/errors';
import { parseSize } from '../../core/profile';
import { splitAtDoubleDash } from '../args';
import { parse, requireOne, type Command } from '../command';

export const execCommand: Command = {
  name: 'exec',
  usage: [['exec NAME -- CMD...', 'run a command (one quoted argument runs in sh -c)']],
  help: `Usage: sandbox exec NAME [options] -- CMD [ARG...]
  --cwd DIR           working directory (relative to the workspace)
  --env NAME=VALUE    environment variable (repeatable)
  --user USER         run as USER (default agent)
  --timeout DURATION  kill the command after DURATION (like 30s, 5m)
  -i, --stdin         pass this process's stdin to the command
  --max-output SIZE   output kept in --json results per stream (default 1m)
The exit status is the command's own; 124 after a timeout, 130 after Ctrl-C.`,
  async run(args, context) {
    const { before, after } = splitAtDoubleDash(args);
    const { values, positionals } = parse(before, {
      cwd: { type: 'string' },
      env: { type: 'string', multiple: true },
      user: { type: 'string' },
      timeout: { type: 'string' },
      stdin: { type: 'boolean', short: 'i' },
      'max-output': { type: 'string' },
    });
    if (!after || after.length === 0) throw new SandboxError('invalid-input', 'Put the command after --: sandbox exec NAME -- CMD.');
    const ref = requireOne(positionals, 'sandbox', 'sandbox exec NAME -- CMD');
    const timeoutMs = values.timeout !== undefined ? parseDuration(values.timeout, 'timeout') : undefined;
    if (timeoutMs === 0) throw new SandboxError('invalid-input', 'The timeout must be more than 0; leave it out for none.');
    const request: ExecRequest = {
      command: after.length === 1 ? after[0]! : after,
      cwd: values.cwd,
      env: values.env ? parseEnvPairs(values.env) : undefined,
      user: values.user,
      timeoutMs,
      maxOutputBytes: values['max-output'] !== undefined ? parseSize(values['max-output'], 'output cap') : undefined,
      stdin: values.stdin ? process.stdin : undefined,
      signal: context.signal,
      onStdout: context.json ? undefined : (chunk) => process.stdout.write(chunk),
      onStderr: context.json ? undefined : (chunk) => process.stderr.write(chunk),
    };
    let result;
    try {
      result = await context.controller.exec(ref, request);
    } finally {
      // Whatever was not read of stdin would keep this process alive after the command ended.
      if (values.stdin) process.stdin.destroy();
    }
    if (context.json) context.printJson({ ...result, signal: result.signal ?? null });
    else if (result.timedOut) process.stderr.write(`sandbox: the command ran past its ${values.timeout} timeout and was killed.\n`);
    else if (result.cancelled && !context.outputClosed()) process.stderr.write('sandbox: the command was cancelled and killed.\n');
    if (result.outOfMemory && !context.json) process.stderr.write(`sandbox: ${result.outOfMemory}\n`);
    if (result.timedOut) return EXIT.timeout;
    if (result.cancelled) return EXIT.cancelled;
    return result.exitCode ?? EXIT.failure;
  },
};
