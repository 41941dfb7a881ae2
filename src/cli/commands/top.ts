import { EXIT } from '../../app/exitStatus';
import { START_COLLECTOR_HINT, topRows, withRates, type TopEntry } from '../../app/metricsView';
import { readCollectorConfig } from '../../core/collector/config';
import { CollectorStore } from '../../core/collector/store';
import { SandboxError } from '../../core/errors';
import { parse, untilCancelled, type Command } from '../command';
import { renderTable } from '../output';

/** A sandbox not sampled for this many intervals is taken for stopped (or the collector for gone). */
const STALE_INTERVALS = 3;

export const topCommand: Command = {
  name: 'top',
  usage: [['top [--once]', 'a live table of the running sandboxes: CPU, memory, network, processes']],
  help: `Usage: sandbox top [--once] [--json]
A live table of the running sandboxes, like \`docker stats\`: CPU (100% is one core), memory
against its limit, network in/out per second and processes, from the collector's newest samples,
refreshed every sample interval until Ctrl-C.
  --once    print the table once and end
--json (with --once) prints the entries (version 1). The collector samples running sandboxes;
${START_COLLECTOR_HINT}.`,
  async run(args, context) {
    const { values, positionals } = parse(args, { once: { type: 'boolean' } });
    if (positionals.length > 0) throw new SandboxError('invalid-input', `Unexpected argument ${positionals[0]}: sandbox top [--once].`);
    if (context.json && !values.once) throw new SandboxError('invalid-input', '--json prints one table: give --once with it.');
    const root = context.controller.store.root;
    const interval = readCollectorConfig(root).sampleIntervalMs;
    if (values.once || context.json) {
      const entries = readTop(root, interval);
      if (!entries) throw new SandboxError('not-found', `No collector has run for this state dir, so there are no metrics; ${START_COLLECTOR_HINT}.`);
      if (context.json) context.printJson({ version: 1, interval, sandboxes: entries });
      else context.out(topText(entries, interval));
      return EXIT.ok;
    }
    const live = Boolean(process.stdout.isTTY);
    await everyInterval(context.signal, interval, () => {
      const entries = readTop(root, interval);
      const text = entries ? topText(entries, interval) : `No collector has run for this state dir yet; ${START_COLLECTOR_HINT}.`;
      // On a terminal the table is redrawn in place; piped, each refresh follows the last.
      context.out(live ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
    });
    return EXIT.ok;
  },
};

/**
 * Calls draw now and every interval ms until the signal aborts. One abort listener serves every
 * wait: a listener per wait would pile up (and Node warns of a leak after ten).
 */
export async function everyInterval(signal: AbortSignal, interval: number, draw: () => void): Promise<void> {
  const cancelled = untilCancelled(signal);
  while (!signal.aborted) {
    draw();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([cancelled, new Promise((resolve) => (timer = setTimeout(resolve, interval)))]);
    clearTimeout(timer);
  }
}

/** The newest sample of each sandbox sampled lately, with the rates since the one before; undefined without a store. */
export function readTop(root: string, interval: number, now = Date.now()): TopEntry[] | undefined {
  const store = CollectorStore.openForReading(root);
  if (!store) return undefined;
  try {
    const since = now - STALE_INTERVALS * interval;
    const known = new Map(store.sandboxes().map((sandbox) => [sandbox.sandboxId, sandbox]));
    return store
      .latestSamples(since)
      .map((latest) => {
        const recent = store.samples(latest.sandboxId, latest.time - STALE_INTERVALS * interval, latest.time);
        const sandbox = known.get(latest.sandboxId);
        const entry: TopEntry = { sandboxId: latest.sandboxId, name: sandbox?.name ?? latest.sandboxId, sample: withRates(recent[recent.length - 2], latest) };
        if (sandbox?.provider) entry.provider = sandbox.provider;
        return entry;
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  } finally {
    store.close();
  }
}

function topText(entries: TopEntry[], interval: number): string {
  if (entries.length === 0) {
    return `No sandbox was sampled in the last ${(STALE_INTERVALS * interval) / 1000} s: none runs, or the collector does not; ${START_COLLECTOR_HINT}.`;
  }
  return renderTable(topRows(entries));
}
