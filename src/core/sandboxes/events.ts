import type { JournalEntry, StateStore } from '../store/stateStore';

type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;

/** What happened to a sandbox (lifecycle, exec, sync); the time is added when it is published. */
export type SandboxEvent = DistributiveOmit<JournalEntry, 'time'>;

/**
 * Where the services tell what happened to a sandbox. Every such note goes through this one
 * interface, so what hears them (today the sandbox's journal) is chosen in one place.
 */
export interface SandboxEvents {
  publish(sandboxId: string, event: SandboxEvent): Promise<void>;
}

/** Appends each event to the sandbox's journal in the state dir. */
export function journalEvents(store: StateStore): SandboxEvents {
  return {
    publish: (sandboxId, event) => store.appendJournal(sandboxId, { time: new Date().toISOString(), ...event } as JournalEntry),
  };
}
