import { EXIT } from '../../app/exitStatus';
import { formatDuration } from '../../app/format';
import { START_COLLECTOR_HINT, matchKnown, metricsRows, summarize, withRates } from '../../app/metricsView';
import { parseSince } from '../../app/since';
import { readCollectorConfig } from '../../core/collector/config';
import { CollectorStore } from '../../core/collector/store';
import { SandboxError, isSandboxError } from '../../core/errors';
import { parse, requireOne, type Command } from '../command';
import { renderTable } from '../output';

/** At most this many rows: a longer window is averaged into rows of equal time. */
const MAX_ROWS = 40;

export const metricsCommand: Command = {
  name: 'metrics',
  usage: [['metrics NAME [--since T]', "a sandbox's CPU, memory, disk, network and processes over time"]],
  help: `Usage: sandbox metrics NAME [--since T] [--json]
A sandbox's samples from the collector's store: CPU (100% is one core), memory, disk used,
network in and out per second, and processes. A long window is averaged into at most ${MAX_ROWS} rows.
  --since T    from this time on: 10m, 2h, 1d, or an ISO time like 2026-01-31T12:00:00Z (default 10m)
--json prints every sample (version 1); network figures there are the counters since the
machine started. The collector samples running sandboxes; ${START_COLLECTOR_HINT}.`,
  async run(args, context) {
    const { values, positionals } = parse(args, { since: { type: 'string' } });
    const ref = requireOne(positionals, 'sandbox', 'sandbox metrics NAME [--since T]');
    const now = Date.now();
    const since = parseSince(values.since ?? '10m', now);
    const root = context.controller.store.root;
    const store = CollectorStore.openForReading(root);
    if (!store) throw new SandboxError('not-found', `No collector has run for this state dir, so there are no metrics; ${START_COLLECTOR_HINT}.`);
    try {
      let sandbox = matchKnown(store.sandboxes(), ref);
      if (!sandbox) {
        // A sandbox the collector never saw: say so if it exists, else that there is no such sandbox.
        const record = await context.controller.resolve(ref).catch((error: unknown) => {
          if (isSandboxError(error, 'not-found')) return undefined;
          throw error;
        });
        if (!record) throw new SandboxError('not-found', `No sandbox is called ${ref}; see \`sandbox list\`.`);
        sandbox = { sandboxId: record.id, name: record.name, provider: record.provider, firstSeen: now, lastSeen: now };
      }
      const samples = store.samples(sandbox.sandboxId, since, now);
      if (context.json) {
        context.printJson({ version: 1, sandbox: { id: sandbox.sandboxId, name: sandbox.name, provider: sandbox.provider ?? null }, since, samples });
        return EXIT.ok;
      }
      if (samples.length === 0) {
        context.out(`${sandbox.name} has no samples since ${new Date(since).toISOString()}. ${staleness(undefined, root, now)}`);
        return EXIT.ok;
      }
      const rows = samples.length <= MAX_ROWS ? samples.map((sample, i) => withRates(samples[i - 1], sample)) : summarize(samples, MAX_ROWS);
      context.out(renderTable(metricsRows(rows)));
      const note = staleness(samples[samples.length - 1]!.time, root, now);
      if (note) context.out(note);
      return EXIT.ok;
    } finally {
      store.close();
    }
  },
};

/** A note when the newest sample is older than a few intervals: the collector is not running. */
export function staleness(newest: number | undefined, root: string, now: number): string {
  const interval = readCollectorConfig(root).sampleIntervalMs;
  if (newest !== undefined && now - newest <= 3 * interval) return '';
  const age = newest === undefined ? 'There is no recent sample' : `The newest sample is ${formatDuration(now - newest)} old`;
  return `${age}: the collector may not be running; ${START_COLLECTOR_HINT}.`;
}
