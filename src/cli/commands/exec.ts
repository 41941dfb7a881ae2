import { runExecCommandLine } from '../../app/execCommandLine';
import type { Command } from '../command';

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
The exit status is the command's own; 124 after a timeout, 130 after Ctrl-C.
With the daemon or \`sandbox mcp\` running, the call goes over their local socket.`,
  run(args, context) {
    return runExecCommandLine(args, {
      json: context.json,
      controller: context.controller,
      signal: context.signal,
      stdout: (chunk) => process.stdout.write(chunk),
      stderr: (chunk) => process.stderr.write(chunk),
      openStdin: () => process.stdin,
      closeStdin: () => process.stdin.destroy(),
      outputClosed: context.outputClosed,
    });
  },
};
