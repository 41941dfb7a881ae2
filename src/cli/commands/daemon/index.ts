import { EXIT } from '../../../app/exitStatus';
import { daemonStatus, startDaemonProcess, stopDaemon } from '../../../core/tasks/daemonLock';
import { runDaemon } from '../../../daemon/daemon';
import { noArguments, type Command, type CommandGroup } from '../../command';

const daemonRunCommand: Command = {
  name: 'run',
  usage: [['daemon run', 'run the scheduler in the foreground']],
  help: 'Usage: sandbox daemon run\nRuns the daemon of this state dir in the foreground, its log on stdout, until Ctrl-C.',
  async run(args, context) {
    noArguments(args, 'sandbox daemon run');
    await runDaemon({ stateRoot: context.controller.store.root, log: (line) => process.stdout.write(line + '\n'), signal: context.signal });
    return EXIT.ok;
  },
};

const daemonStartCommand: Command = {
  name: 'start',
  usage: [['daemon start|stop|status', 'the background process that runs tasks']],
  help: 'Usage: sandbox daemon start\nStarts the daemon in the background (its log: daemon.log in the state dir); does nothing if one runs.',
  async run(args, context) {
    noArguments(args, 'sandbox daemon start');
    const status = await startDaemonProcess({ stateRoot: context.controller.store.root, script: process.argv[1]! });
    if (context.json) context.printJson(status);
    else context.out(`The daemon runs (pid ${status.holder?.pid}); its log is ${status.logFile}.`);
    return EXIT.ok;
  },
};

const daemonStopCommand: Command = {
  name: 'stop',
  usage: [],
  help: 'Usage: sandbox daemon stop\nStops the daemon; commands of placed tasks go on in their sandboxes and the next daemon picks them up.',
  async run(args, context) {
    noArguments(args, 'sandbox daemon stop');
    const before = daemonStatus(context.controller.store.root);
    const status = await stopDaemon(context.controller.store.root);
    if (context.json) context.printJson(status);
    else context.out(before.running ? `Stopped the daemon (pid ${before.holder?.pid}).` : 'No daemon runs.');
    return EXIT.ok;
  },
};

const daemonStatusCommand: Command = {
  name: 'status',
  usage: [],
  help: 'Usage: sandbox daemon status [--json]\nExit 0 when a daemon runs for this state dir, 1 when none does.',
  async run(args, context) {
    noArguments(args, 'sandbox daemon status');
    const status = daemonStatus(context.controller.store.root);
    if (context.json) context.printJson(status);
    else
      context.out(
        status.running
          ? `The daemon runs (pid ${status.holder?.pid}, since ${status.holder?.startedAt}); log: ${status.logFile}.`
          : 'No daemon runs; start it with `sandbox daemon start`.',
      );
    return status.running ? EXIT.ok : EXIT.failure;
  },
};

export const daemonGroup: CommandGroup = {
  name: 'daemon',
  usage: daemonStartCommand.usage.concat(daemonRunCommand.usage),
  help: 'Usage: sandbox daemon run|start|stop|status\nThe long-lived process of a state dir: it places queued tasks and keeps the warm pools.',
  subcommands: [daemonRunCommand, daemonStartCommand, daemonStopCommand, daemonStatusCommand],
};
