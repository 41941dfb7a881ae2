import { EXIT } from '../../app/exitStatus';
import { parseNumber } from '../../app/parse';
import { SandboxError, describeError } from '../../core/errors';
import { openNotebook } from '../../core/interpreter/notebookServer';
import { sandboxEndError, whenSandboxEnds, type SandboxEnd } from '../../core/sandboxes/sandboxEnd';
import { parse, type Command } from '../command';
import { openBrowserWithToken } from '../openBrowser';

export const jupyterCommand: Command = {
  name: 'jupyter',
  usage: [['jupyter NAME', "open the sandbox's Jupyter Notebook server in a browser, until Ctrl-C"]],
  help: `Usage: sandbox jupyter NAME [--port P] [--no-open]
Starts the Jupyter Notebook server in the sandbox as its user, on the sandbox's own 127.0.0.1
with a new random token (or finds the one started before), forwards it to 127.0.0.1 here (a free
port, or --port) over SSH, prints its URL with the token once and opens it in the browser
(not with --no-open). The URL is the key to the server: whoever has it can run code in the
sandbox. Runs until Ctrl-C, or until the sandbox stops (exit 5) or is removed (exit 3); the
server keeps running in the sandbox, and a later \`sandbox jupyter\` opens it again.`,
  async run(args, context) {
    const { values, positionals } = parse(args, { port: { type: 'string' }, 'no-open': { type: 'boolean' } });
    if (positionals.length !== 1) throw new SandboxError('invalid-input', 'Usage: sandbox jupyter NAME [--port P] [--no-open].');
    const localPort = values.port !== undefined ? parseNumber(values.port, 'port') : undefined;
    const opened = await openNotebook(context.controller, positionals[0]!, { localPort, signal: context.signal });
    const { forward } = opened;
    if (context.json) context.printJson({ sandbox: opened.sandboxName, url: opened.url, localPort: forward.localPort, remotePort: opened.remotePort });
    else context.out(`Jupyter of ${opened.sandboxName} is at ${opened.url}\n(the token in it is the key to the server; Ctrl-C to stop forwarding)`);
    if (!values['no-open'] && !(await openBrowserWithToken(opened.url, context.controller.store.root)))
      process.stderr.write('sandbox: no browser could be opened; open the URL above yourself.\n');
    forward.on('error-connection', (error: unknown) => process.stderr.write(`sandbox: ${describeError(error)}\n`));
    const watching = new AbortController();
    const end = await new Promise<SandboxEnd | undefined>((resolve) => {
      if (context.signal.aborted) resolve(undefined);
      context.signal.addEventListener('abort', () => resolve(undefined), { once: true });
      forward.once('close', () => resolve(undefined));
      void context.controller
        .resolve(opened.sandboxId)
        .then((record) => whenSandboxEnds(context.controller, record, watching.signal))
        .then(resolve, () => undefined);
    });
    watching.abort();
    forward.close();
    if (end) throw sandboxEndError(end, `${forward.url} no longer forwards Jupyter`, 'run sandbox jupyter again');
    return EXIT.ok;
  },
};
