import { serveDashboard } from '../../app/dashboardServer';
import { EXIT } from '../../app/exitStatus';
import { parseNumber } from '../../app/parse';
import { noArguments, parse, untilCancelled, type Command } from '../command';
import { openBrowserWithToken } from '../openBrowser';

export const dashboardCommand: Command = {
  name: 'dashboard',
  usage: [['dashboard [--port N] [--no-open]', 'live charts, tasks, events and cost of every sandbox in a browser, until Ctrl-C']],
  help: `Usage: sandbox dashboard [--port N] [--no-open]
Serves the dashboard on 127.0.0.1 behind a one-time link and opens it in the browser: a card
with live CPU, memory and network charts per running sandbox (from the collector's store; start
the collector with \`sandbox collector run\` or the daemon), each desktop's thumbnail (a click
opens its viewer), the running tasks as a timeline, the events as a filterable feed, and the
month's cost against the budget. Runs until Ctrl-C.
  --port N     serve on this port (any free one by default)
  --no-open    print the link only; it works once, in one browser`,
  async run(args, context) {
    const { values, positionals } = parse(args, { port: { type: 'string' }, 'no-open': { type: 'boolean' } });
    noArguments(positionals, 'sandbox dashboard [--port N] [--no-open]');
    const port = values.port !== undefined ? parseNumber(values.port, 'port') : undefined;
    const served = await serveDashboard(context.controller, { stateRoot: context.controller.store.root, port });
    const opened = !values['no-open'] && (await openBrowserWithToken(served.url, context.controller.store.root));
    if (context.json) context.printJson({ url: served.url, port: served.port, opened });
    else if (opened) context.out(`The dashboard is open in your browser (port ${served.port}; Ctrl-C to stop).`);
    else context.out(`The dashboard is at ${served.url}\n(one-time link: open it once in a browser on this machine; Ctrl-C to stop)`);
    await untilCancelled(context.signal);
    await served.close();
    return EXIT.ok;
  },
};
