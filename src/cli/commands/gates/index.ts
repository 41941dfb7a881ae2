import * as path from 'node:path';
import { EXIT } from '../../../app/exitStatus';
import { checkSandbox } from '../../../core/gates/sandboxCheck';
import { parse, requireOne, type Command, type CommandGroup } from '../../command';

const gatesRunCommand: Command = {
  name: 'run',
  usage: [['gates run NAME [--workspace PATH]', "run the workspace's gate checks on a sandbox as it is now"]],
  help: `Usage: sandbox gates run NAME [--workspace PATH] [--json]
Runs the L0 checks of the workspace's .sandboxes/gates.json (read from the local folder, never
from the sandbox) in the sandbox NAME as it is now, and compares with the base's results (L1)
when the base last pushed from the workspace was checked before. Exit 0 when every check passes.
  --workspace PATH   the local workspace whose gates apply (default: the current folder)`,
  async run(args, context) {
    const { values, positionals } = parse(args, { workspace: { type: 'string' } });
    const name = requireOne(positionals, 'sandbox', 'sandbox gates run NAME');
    const workspace = path.resolve(values.workspace ?? '.');
    const check = await checkSandbox(context.controller, context.controller.store.root, name, workspace, context.signal);
    const passed = !check.l0Failure && (check.l1 ?? []).length === 0;
    if (context.json) {
      context.printJson({ passed, ...check });
      return passed ? EXIT.ok : EXIT.failure;
    }
    for (const outcome of check.run.checks) {
      const tests = outcome.report?.tests ?? [];
      const failed = tests.filter((test) => test.status === 'failed' || test.status === 'error');
      const summary = outcome.report
        ? `${tests.length} tests, ${failed.length} failed`
        : outcome.findings
          ? `${outcome.findings.length} findings`
          : `exit ${outcome.exitCode}`;
      context.out(
        `${outcome.problem || failed.length || (outcome.kind === 'test' && outcome.exitCode !== 0) ? 'FAIL' : 'ok  '}  ${outcome.name}: ${summary} (${(outcome.durationMs / 1000).toFixed(1)} s)`,
      );
      if (outcome.problem) context.out(`      ${outcome.problem}`);
      for (const test of failed.slice(0, 10)) {
        context.out(`      ${test.id}${test.location ? ` at ${test.location.path}:${test.location.line}` : ''}${test.message ? `: ${test.message}` : ''}`);
      }
    }
    if (check.l1 === undefined) context.out('L1: no results of the base are cached for this sandbox, so nothing was compared.');
    else if (check.l1.length === 0) context.out('L1: no regression against the base.');
    else for (const finding of check.l1) context.out(`L1 ${finding.kind}: ${finding.message}`);
    context.out(passed ? 'The gates pass.' : `The gates fail${check.l0Failure ? `: ${check.l0Failure}` : '.'}`);
    return passed ? EXIT.ok : EXIT.failure;
  },
};

export const gatesGroup: CommandGroup = {
  name: 'gates',
  usage: gatesRunCommand.usage,
  help: 'Usage: sandbox gates run NAME\nThe quality gates of a workspace (.sandboxes/gates.json; docs/gates.md).',
  subcommands: [gatesRunCommand],
};
