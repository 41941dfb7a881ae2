import type { JournalEntry, StateStore } from '../store/stateStore';
import type { EventBus, Unsubscribe } from './bus';
import type { BusEvent, ExecEndedEvent, SyncEndedEvent } from './types';

/**
 * The sandbox's journal as a subscriber of the bus, required: a journal that cannot be written
 * fails the operation, as it always has. It keeps what it always kept: lifecycle steps
 * (created, started, stopped, adopted), every agent command with its capped output, every sync.
 * Other events (ready, deleted, exec.started...) are not journalled: a deleted sandbox has no
 * journal, and a failed create leaves none.
 */
export function subscribeJournal(bus: EventBus, store: StateStore): Unsubscribe {
  return bus.onAny(
    async (event) => {
      const entry = journalEntryOf(event);
      if (entry) await store.appendJournal(event.sandboxId, entry);
    },
    { required: true },
  );
}

/** The journal line of an event, or undefined for events the journal does not keep. */
export function journalEntryOf(event: BusEvent): JournalEntry | undefined {
  const { time } = event;
  switch (event.type) {
    case 'sandbox.created':
      return { time, kind: 'lifecycle', action: 'created', detail: `${event.provider} ${event.providerRef.slice(0, 12)}` };
    case 'sandbox.started':
      return { time, kind: 'lifecycle', action: 'started' };
    case 'sandbox.stopped':
      return { time, kind: 'lifecycle', action: 'stopped' };
    case 'sandbox.adopted':
      return { time, kind: 'lifecycle', action: 'adopted', detail: 'found on the provider without a record' };
    case 'sandbox.snapshotted':
      return { time, kind: 'lifecycle', action: 'snapshotted', detail: event.snapshot };
    case 'exec.ended':
      return execEntry(event);
    case 'sync.ended':
      return syncEntry(event);
    case 'task.started':
      return { time, kind: 'lifecycle', action: 'task started', detail: `${event.taskId} attempt ${event.attempt}` };
    case 'task.ended':
      return {
        time,
        kind: 'lifecycle',
        action: 'task ended',
        detail: `${event.taskId} attempt ${event.attempt}: ${event.end}${event.exitCode !== undefined ? ` (exit ${event.exitCode})` : ''}, now ${event.next}`,
      };
    case 'cost.alert':
      // A month's alert belongs to a sandbox's journal only when that sandbox's create or extension brought it.
      return event.sandboxId ? { time, kind: 'lifecycle', action: 'budget alert', detail: event.message } : undefined;
    case 'cost.expired':
      if (!event.sandboxId) return undefined;
      return { time, kind: 'lifecycle', action: event.action === 'hibernate' ? 'time-to-live: hibernating' : 'time-to-live: destroying', detail: event.reason };
    default:
      return undefined;
  }
}

function execEntry(event: ExecEndedEvent): JournalEntry {
  const transcript = event.localOnly;
  return {
    time: event.time,
    kind: 'exec',
    command: transcript?.command ?? event.command,
    cwd: event.cwd,
    user: event.user,
    envKeys: event.envKeys,
    exitCode: event.exitCode,
    signal: event.signal,
    durationMs: event.durationMs,
    timedOut: event.timedOut,
    cancelled: event.cancelled,
    stdout: transcript?.stdout ?? '',
    stderr: transcript?.stderr ?? '',
    truncated: transcript?.truncated ?? false,
    error: event.error,
    outOfMemory: event.outOfMemory,
  };
}

function syncEntry(event: SyncEndedEvent): JournalEntry {
  // The emitter hands the journal's exact line (a push keeps its whole summary); else the counts.
  if (event.localOnly) return { time: event.time, kind: 'sync', ...event.localOnly.details } as JournalEntry;
  const { direction, local, remote, files, bytes, deleted, durationMs, error } = event;
  return { time: event.time, kind: 'sync', direction, local, remote, files, bytes, deleted, durationMs, error };
}
