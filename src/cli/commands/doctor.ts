import { doctorText } from '../../app/doctorReport';
import { EXIT } from '../../app/exitStatus';
import { doctorContext, runDoctor } from '../../core/doctor';
import { noArguments, selfCommand, type Command } from '../command';

export const doctorCommand: Command = {
  name: 'doctor',
  usage: [['doctor', 'checks this machine for sandboxes, with the fix for each problem']],
  help: `Usage: sandbox doctor
Checks everything sandboxes need here and says how to fix what is wrong: Node.js, the OpenSSH
client, the Docker engine and its version, that it enforces memory, CPU and process limits, the
sandbox and desktop images (built from this version's recipe?), the state dir's modes, the SSH
Include, a Remote-SSH extension, and that each added SSH host answers with its pinned key.
Exit 0 when every check passes or only warns (the desktop image, the SSH Include and Remote-SSH
are needed for some uses only), 1 when one fails. --json prints {"ok", "checks": [{"id",
"title", "status", "ok", "detail", "fix"}]}. See docs/doctor.md.`,
  async run(args, context) {
    noArguments(args, 'sandbox doctor');
    const cli = selfCommand();
    const report = await runDoctor(doctorContext(context.controller, { runtime: 'cli', cli, signal: context.signal }));
    if (context.json) context.printJson(report);
    else context.out(doctorText(report, cli));
    return report.ok ? EXIT.ok : EXIT.failure;
  },
};
