import { startCollector } from '../../../app/collectorRunner';
import { collectorStatus, type CollectorStatus } from '../../../app/collectorStatus';
import { EXIT } from '../../../app/exitStatus';
import { formatSize } from '../../../core/profile';
import { noArguments, untilCancelled, type Command, type CommandGroup } from '../../command';
import { renderTable } from '../../output';

const collectorRunCommand: Command = {
  name: 'run',
  usage: [['collector run|status', 'the store of events, logs and metrics of every sandbox']],
  help: `Usage: sandbox collector run
Runs the collector alone in the foreground, its log on stdout, until Ctrl-C. The daemon runs it
too (\`sandbox daemon start\`): there is one writer per state dir, so this refuses while it runs.`,
  async run(args, context) {
    noArguments(args, 'sandbox collector run');
    const stateRoot = context.controller.store.root;
    const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
    const running = startCollector({ stateRoot, controller: context.controller, log, role: 'collector run' });
    log(`Collector started (pid ${process.pid}) for ${stateRoot}; Ctrl-C stops it.`);
    await untilCancelled(context.signal);
    await running.stop();
    log('Collector stopped.');
    return EXIT.ok;
  },
};

const collectorStatusCommand: Command = {
  name: 'status',
  usage: [],
  help: `Usage: sandbox collector status [--json]
Where the collector runs, its store (file, size, rows), how far it has read each journal, and the
lines it skipped. Exit 0 when a collector runs, 1 when none does.`,
  async run(args, context) {
    noArguments(args, 'sandbox collector status');
    const status = collectorStatus(context.controller.store.root);
    if (context.json) context.printJson(status);
    else context.out(collectorStatusText(status));
    return status.running ? EXIT.ok : EXIT.failure;
  },
};

export function collectorStatusText(status: CollectorStatus): string {
  const lines: string[] = [];
  if (status.holder) {
    const where = status.holder.role === 'daemon' ? 'in the daemon' : 'alone (`sandbox collector run`)';
    lines.push(`The collector runs ${where}, pid ${status.holder.pid}, since ${status.holder.startedAt}.`);
  } else {
    lines.push('No collector runs; start one with `sandbox daemon start` or `sandbox collector run`.');
  }
  if (status.fileBytes === undefined) {
    lines.push(`No store yet (${status.file}): no collector has run for this state dir.`);
    return lines.join('\n');
  }
  lines.push(`Store: ${status.file} (${formatSize(status.fileBytes)})`);
  lines.push(
    `Rows: ${Object.entries(status.counts ?? {})
      .map(([table, n]) => `${table} ${n}`)
      .join(', ')}`,
  );
  if (status.offsets?.length) {
    lines.push('', renderTable([['SOURCE', 'OFFSET', 'FILE'], ...status.offsets.map((o) => [o.source, String(o.offset), o.fileId ?? '-'])]));
  }
  if (status.problems?.length) {
    lines.push('', 'Recent problems:', ...status.problems.map((p) => `  ${p.time}  ${p.source}: ${p.message}`));
  }
  return lines.join('\n');
}

export const collectorGroup: CommandGroup = {
  name: 'collector',
  usage: collectorRunCommand.usage,
  help: "Usage: sandbox collector run|status\nThe store of every sandbox's events, logs and metrics (collector.db in the state dir; see docs/collector.md).",
  subcommands: [collectorRunCommand, collectorStatusCommand],
};
