import { EXIT } from '../../app/exitStatus';
import { formatDuration } from '../../app/format';
import { parseNumber } from '../../app/parse';
import { parseSince } from '../../app/since';
import { CollectorStore, type EventQuery, type StoredEvent } from '../../core/collector/store';
import { SandboxError } from '../../core/errors';
import { visibleText } from '../../core/util/visibleText';
import { parse, type Command } from '../command';

/** How often `-f` asks the store for events after the last it printed. */
const FOLLOW_POLL_MS = 500;

export const eventsCommand: Command = {
  name: 'events',
  usage: [['events [-f] [--since T] [--type X]', 'what happened in every sandbox, from the collector']],
  help: `Usage: sandbox events [-f] [--since T] [--type X]... [--sandbox NAME] [--limit N] [--json]
The events the collector stored (sandbox lifecycle, commands, syncs, tasks, budget alerts), oldest first.
--since 10m, 2h, 1d or an ISO time; --type an exact type (exec.ended) or a prefix (task.), repeatable;
--limit the newest N (1000 by default); -f then prints each new one until Ctrl-C.
With --json: an array, or with -f one object per line.`,
  async run(args, context) {
    const { values, positionals } = parse(args, {
      follow: { type: 'boolean', short: 'f' },
      since: { type: 'string' },
      type: { type: 'string', multiple: true },
      sandbox: { type: 'string' },
      limit: { type: 'string' },
    });
    if (positionals.length > 0) throw new SandboxError('invalid-input', `Unexpected argument ${positionals[0]}: sandbox events [-f] [--since T] [--type X].`);
    const query: EventQuery = {};
    if (values.since !== undefined) query.since = parseSince(values.since);
    if (values.type?.length) query.types = values.type.flatMap((type) => type.split(',')).filter((type) => type !== '');
    if (values.sandbox !== undefined) query.sandbox = values.sandbox;
    if (values.limit !== undefined) {
      const limit = parseNumber(values.limit, 'limit');
      if (!Number.isInteger(limit) || limit < 1) throw new SandboxError('invalid-input', `The limit "${values.limit}" is not a whole number of at least 1.`);
      query.limit = limit;
    }
    const store = CollectorStore.openForReading(context.controller.store.root);
    if (!store) {
      throw new SandboxError(
        'not-found',
        'No collector has run for this state dir, so no events are stored; start one with `sandbox daemon start` or `sandbox collector run`.',
      );
    }
    try {
      let events = store.events(query);
      if (!values.follow) {
        if (context.json) context.printJson(events);
        else for (const event of events) context.out(eventLine(event));
        return EXIT.ok;
      }
      let lastId = events.at(-1)?.id ?? lastEventId(store);
      const follow: EventQuery = { ...query, limit: 1000 };
      while (!context.signal.aborted && !context.outputClosed()) {
        for (const event of events) process.stdout.write((context.json ? JSON.stringify(event) : eventLine(event)) + '\n');
        await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
        events = store.events({ ...follow, afterId: lastId });
        lastId = events.at(-1)?.id ?? lastId;
      }
      return EXIT.ok;
    } finally {
      store.close();
    }
  },
};

function lastEventId(store: CollectorStore): number {
  return Number(store.db.get<{ id: number | null }>('SELECT max(id) AS id FROM events')?.id ?? 0);
}

/** One event as a line: time, type, sandbox, what it says. */
export function eventLine(event: StoredEvent): string {
  const time = new Date(event.time).toISOString().replace('T', ' ').slice(0, 19);
  const line = [time, event.type.padEnd(19), (event.sandbox || event.sandboxId || '-').padEnd(16), eventSummary(event)].join('  ').trimEnd();
  // Errors may quote what a sandbox printed: one line, made visible.
  return visibleText(line.replace(/\n/g, ' '));
}

/** A few words on what the event says, by its family. */
export function eventSummary(event: StoredEvent): string {
  const d = event.data;
  const text = (key: string) => (d[key] === undefined || d[key] === null ? '' : String(d[key]));
  const took = typeof d.durationMs === 'number' ? ` in ${d.durationMs < 1000 ? `${d.durationMs} ms` : formatDuration(d.durationMs)}` : '';
  switch (event.type) {
    case 'exec.started':
      return text('command');
    case 'exec.ended':
      return `${text('command')} -> ${d.exitCode === null ? text('signal') || text('error') || 'no exit' : `exit ${text('exitCode')}`}${took}`;
    case 'sync.ended':
      return `${text('direction')} ${text('files')} files, ${text('bytes')} bytes${took}${d.error ? `: ${text('error')}` : ''}`;
    case 'cost.alert':
      return text('message');
    default:
      break;
  }
  if (event.type.startsWith('task.')) return [`task ${text('taskId')}`, text('next') && `-> ${text('next')}`, took.trim()].filter(Boolean).join(' ');
  if (event.type.startsWith('sandbox.')) return [event.provider, text('reason'), text('error') || text('problem')].filter(Boolean).join(' ');
  return Object.entries(d)
    .filter(([key, value]) => key !== 'name' && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'))
    .slice(0, 4)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(' ');
}
