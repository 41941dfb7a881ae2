import { EXIT } from '../../app/exitStatus';
import { parseNumber } from '../../app/parse';
import { SandboxError, describeError } from '../../core/errors';
import { sandboxEndError, whenSandboxEnds, type SandboxEnd } from '../../core/sandboxes/sandboxEnd';
import { parse, type Command } from '../command';

export const forwardCommand: Command = {
  name: 'forward',
  usage: [['forward NAME PORT', 'open PORT of the sandbox on 127.0.0.1 here, until Ctrl-C']],
  help: `Usage: sandbox forward NAME PORT [--local PORT]
Listens on 127.0.0.1 (a free port, or --local) and carries each connection over SSH to PORT
on the sandbox's own 127.0.0.1. Runs until Ctrl-C, or until the sandbox stops (exit 5) or is
removed (exit 3), which it says.`,
  async run(args, context) {
    const { values, positionals } = parse(args, { local: { type: 'string' } });
    if (positionals.length !== 2) throw new SandboxError('invalid-input', 'Usage: sandbox forward NAME PORT [--local PORT].');
    const remotePort = parseNumber(positionals[1]!, 'port');
    const localPort = values.local !== undefined ? parseNumber(values.local, 'local port') : undefined;
    const opened = await context.controller.forward(positionals[0]!, remotePort, { localPort });
    const description = { sandbox: opened.sandboxName, remotePort: opened.remotePort, localPort: opened.localPort, url: opened.url };
    if (context.json) context.printJson(description);
    else context.out(`Forwarding ${opened.url} to port ${remotePort} of ${opened.sandboxName}; Ctrl-C to stop.`);
    // A connection the sandbox refused (nothing listening there) is said, not only dropped.
    opened.on('error-connection', (error: unknown) => process.stderr.write(`sandbox: ${describeError(error)}\n`));
    // Until Ctrl-C, or until the sandbox stops or is removed (here, by another process, or outside).
    const watching = new AbortController();
    const end = await new Promise<SandboxEnd | undefined>((resolve) => {
      if (context.signal.aborted) resolve(undefined);
      context.signal.addEventListener('abort', () => resolve(undefined), { once: true });
      opened.once('close', () => resolve(undefined));
      void context.controller
        .resolve(opened.sandboxId)
        .then((record) => whenSandboxEnds(context.controller, record, watching.signal))
        .then(resolve, () => undefined);
    });
    watching.abort();
    opened.close();
    if (end) throw sandboxEndError(end, `${opened.url} no longer forwards its port ${remotePort}`, 'forward again');
    return EXIT.ok;
  },
};
