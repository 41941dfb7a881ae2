import { EXIT } from '../../app/exitStatus';
import { parseNumber } from '../../app/parse';
import { serveDesktop } from '../../core/desktop/server';
import { parse, requireOne, untilCancelled, type Command } from '../command';

export const desktopCommand: Command = {
  name: 'desktop',
  usage: [['desktop NAME', 'watch (and drive) a desktop sandbox in a browser, until Ctrl-C']],
  help: `Usage: sandbox desktop NAME [--port N] [--view-only]
Serves the desktop viewer on 127.0.0.1 behind a one-time link; the desktop itself is reached
inside the sandbox's SSH connection (no VNC port is published). Runs until Ctrl-C.`,
  async run(args, context) {
    const { values, positionals } = parse(args, { port: { type: 'string' }, 'view-only': { type: 'boolean' } });
    const ref = requireOne(positionals, 'sandbox', 'sandbox desktop NAME [--port N] [--view-only]');
    const port = values.port !== undefined ? parseNumber(values.port, 'port') : undefined;
    const served = await serveDesktop(context.controller, ref, { port, viewOnly: values['view-only'] });
    if (context.json) context.printJson({ url: served.url, port: served.port });
    else context.out(`The desktop is at ${served.url}\n(one-time link: open it once in a browser on this machine; Ctrl-C to stop)`);
    await untilCancelled(context.signal);
    await served.close();
    return EXIT.ok;
  },
};
