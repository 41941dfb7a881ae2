import { EXIT } from '../../app/exitStatus';
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { SandboxError } from '../../core/errors';
import { landingCommand } from '../../core/hosts/directory';
import { splitAtDoubleDash } from '../args';
import { parse, requireOne, type Command } from '../command';

export const sshCommand: Command = {
  name: 'ssh',
  usage: [['ssh NAME [-- CMD...]', 'log in with OpenSSH (or run CMD there)']],
  help: `Usage: sandbox ssh NAME [-- CMD [ARG...]]
Runs OpenSSH's ssh with our config (pinned host key, the sandbox's own client key).
The exit status is ssh's: the command's own, or 255 when the connection fails.`,
  async run(args, context) {
    const { before, after } = splitAtDoubleDash(args);
    const { positionals } = parse(before, {});
    const ref = requireOne(positionals, 'sandbox', 'sandbox ssh NAME [-- CMD]');
    const target = await context.controller.sshTarget(ref);
    const command = after && after.length > 0 ? after : undefined;
    // A directory sandbox shares the host's login: land in its folder, under its marker and limits.
    const remote = target.run
      ? [...(command || !process.stdin.isTTY ? [] : ['-t']), '--', landingCommand(target.run, command)]
      : command
        ? ['--', ...command]
        : [];
    const argv = [...target.command.slice(1), ...remote];
    if (context.json && !command) {
      context.printJson({ alias: target.alias, configFile: target.configFile, command: [target.command[0]!, ...argv] });
      return EXIT.ok;
    }
    return new Promise<number>((resolve, reject) => {
      const child = spawn('ssh', argv, { stdio: 'inherit' });
      child.on('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new SandboxError('invalid-input', "OpenSSH's ssh client is not installed here; install it (openssh-client) or use `sandbox exec`.")
            : error,
        ),
      );
      // Ctrl-C belongs to the remote side while ssh runs; ssh handles it.
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : EXIT.failure)));
    });
  },
};
