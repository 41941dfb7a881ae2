import { SandboxError } from '../errors';
import { HOUR_MS } from './billing';
import type { LedgerBook } from './fold';

/** A cloud sandbox lives two hours unless extended: a forgotten one cannot bill for long. */
export const DEFAULT_TTL_MS = 2 * HOUR_MS;

/** A running sandbox as the daemon sees it at a check. */
export interface RunningSandbox {
  entryId: string;
  sandbox: string;
  untilMs: number;
  /** A command is running in it: it must not be killed without a snapshot. */
  busy: boolean;
}

export interface TtlAction {
  /** destroy: idle past its time-to-live. hibernate: busy past it, so snapshot first, then destroy. */
  action: 'destroy' | 'hibernate';
  entryId: string;
  sandbox: string;
  overdueMs: number;
  /** One sentence for the journal and the user. */
  reason: string;
}

/** What the daemon does at a check: every sandbox past its time-to-live ends, and a busy one only by hibernation. */
export function ttlActions(running: readonly RunningSandbox[], nowMs: number): TtlAction[] {
  const actions: TtlAction[] = [];
  for (const sandbox of running) {
    if (nowMs < sandbox.untilMs) continue;
    const overdueMs = nowMs - sandbox.untilMs;
    actions.push(
      sandbox.busy
        ? {
            action: 'hibernate',
            entryId: sandbox.entryId,
            sandbox: sandbox.sandbox,
            overdueMs,
            reason: `${sandbox.sandbox} passed its time-to-live with a command running, so it is hibernated (snapshot, then destroy) rather than killed; start it again to carry on.`,
          }
        : {
            action: 'destroy',
            entryId: sandbox.entryId,
            sandbox: sandbox.sandbox,
            overdueMs,
            reason: `${sandbox.sandbox} passed its time-to-live idle, so it is destroyed; extend a sandbox's time-to-live to keep it longer.`,
          },
    );
  }
  return actions;
}

/** The running sandboxes of the ledger with their busy state, as `ttlActions` takes them. */
export function runningSandboxes(book: LedgerBook, isBusy: (sandbox: string) => boolean): RunningSandbox[] {
  return book.openMachines().map((entry) => ({ entryId: entry.id, sandbox: entry.sandbox, untilMs: entry.untilMs, busy: isBusy(entry.sandbox) }));
}

/** `sandbox extend NAME 1h`: adds to the time-to-live, counted from now when it has already passed. */
export function extendedUntil(currentUntilMs: number, byMs: number, nowMs: number): number {
  if (!Number.isFinite(byMs) || byMs <= 0) throw new SandboxError('invalid-input', 'An extension must be longer than zero; give one like 30m or 1h.');
  return Math.max(currentUntilMs, nowMs) + byMs;
}
