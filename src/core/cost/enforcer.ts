/**
 * Cost enforcement, as the daemon runs it every minute: cloud sandboxes past their time-to-live
 * end (an idle one destroyed, a busy one hibernated, never killed mid-work), budget alerts fire
 * once a month each, and ledger entries whose machine is gone are closed as vanished.
 */
import { describeError, isSandboxError } from '../errors';
import type { EventInput } from '../events/types';
import type { ExecRequest, ExecResult, SandboxRecord } from '../model';
import { isInterrupted } from '../sandboxState';
import { EXEC_MARKER_ENV } from '../transport/dockerExec';
import { createLimiter } from '../util/limiter';
import { fireDueAlerts, type BudgetAlert } from './alerts';
import type { Clock } from './billing';
import type { BudgetSettings } from './budget';
import type { LedgerBook } from './fold';
import { CostLedger } from './ledger';
import { vanishedEntries } from './reconcile';
import { readBudgetSettings } from './settings';
import { runningSandboxes, ttlActions, type TtlAction } from './ttl';

/** What the enforcer asks of the controller: nothing else, so a test can hand it a fake. */
export interface EnforcedController {
  list(): Promise<SandboxRecord[]>;
  delete(ref: string, signal?: AbortSignal): Promise<SandboxRecord>;
  hibernate(ref: string, signal?: AbortSignal): Promise<SandboxRecord>;
  inspectExec(ref: string, request: ExecRequest): Promise<ExecResult>;
  readonly events: { emit(event: EventInput): Promise<unknown> };
}

export const DEFAULT_ENFORCE_INTERVAL_MS = 60_000;
const PROBE_TIMEOUT_MS = 30_000;
/** Time-to-live actions run side by side, so one long snapshot does not hold back the sandboxes after it. */
export const ENFORCE_CONCURRENCY = 4;

/**
 * Counts the processes in the sandbox that carry an exec marker other than the probe's own: every
 * command the product runs (agents' commands, tasks, detached ones) carries one, and its children
 * inherit it. Read as the sandbox user, who can read the environment of its own processes.
 */
export const BUSY_PROBE = [
  `me="$${EXEC_MARKER_ENV}"; n=0`,
  'for f in /proc/[0-9]*/environ; do',
  `  v=$(tr '\\0' '\\n' < "$f" 2>/dev/null | grep -m1 '^${EXEC_MARKER_ENV}=') || continue`,
  `  [ "$v" = "${EXEC_MARKER_ENV}=$me" ] || n=$((n+1))`,
  'done',
  // A person at work: a terminal login (sshd's session on a pts) or Remote-SSH's server; neither carries the marker.
  'for f in /proc/[0-9]*/cmdline; do',
  `  c=$(tr '\\0' ' ' < "$f" 2>/dev/null) || continue`,
  '  case "$c" in sshd:*@pts/*|*.vscode-server*) n=$((n+1)) ;; esac',
  'done',
  'echo "$n"',
].join('\n');

export interface CostEnforcerOptions {
  controller: EnforcedController;
  stateRoot: string;
  log: (line: string) => void;
  clock?: Clock;
  intervalMs?: number;
  /** Whether a command runs in the sandbox; by default `BUSY_PROBE` over the controller's exec. Unknown counts as busy. */
  isBusy?: (sandbox: string) => Promise<boolean>;
  /** The budget; by default the state dir's settings, read at every check (a change applies at the next). */
  settings?: () => Promise<BudgetSettings>;
}

export interface EnforcementReport {
  atMs: number;
  /** The time-to-live actions decided, with what came of each. */
  actions: (TtlAction & { outcome: 'done' | 'failed' | 'skipped'; error?: string })[];
  alerts: BudgetAlert[];
  /** Ledger entries closed because their machine is gone. */
  vanished: string[];
  /** Failed creates whose machine still cost (their cleanup could not remove it), destroyed by this check. */
  failedCreates: string[];
  /** Set when the check could not run to its end. */
  problem?: string;
}

export class CostEnforcer {
  readonly ledger: CostLedger;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private timer?: NodeJS.Timeout;
  private running?: Promise<EnforcementReport>;
  private stopped = false;
  private readonly abort = new AbortController();
  /** Entries whose time-to-live action was already told (journal, events): a retry is not told again. */
  private readonly announced = new Set<string>();

  constructor(private readonly options: CostEnforcerOptions) {
    this.clock = options.clock ?? Date.now;
    this.intervalMs = options.intervalMs ?? DEFAULT_ENFORCE_INTERVAL_MS;
    this.ledger = new CostLedger(options.stateRoot, this.clock);
  }

  /** Checks now, then every interval, until `stop`. */
  start(): void {
    this.stopped = false;
    const tick = async () => {
      await this.check().catch((error) => this.options.log(`Cost check failed: ${describeError(error)}`));
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.intervalMs);
    };
    void tick();
  }

  /** Stops the checks and waits for the one under way (a hibernation in progress is left to finish on the provider). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }

  /** One check; a check asked for while one runs waits for that one instead of overlapping it. */
  check(): Promise<EnforcementReport> {
    this.running ??= this.checkOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async checkOnce(): Promise<EnforcementReport> {
    const { controller, log } = this.options;
    const atMs = this.clock();
    const report: EnforcementReport = { atMs, actions: [], alerts: [], vanished: [], failedCreates: [] };
    let book = await this.ledger.load();
    if (book.openMachines().length > 0) {
      // The provider is the truth: a machine it no longer lists stopped costing when it went.
      let records: SandboxRecord[] | undefined;
      try {
        records = await controller.list();
      } catch (error) {
        report.problem = `The sandboxes could not be listed (${describeError(error)}); gone machines are looked for at the next check.`;
        log(report.problem);
      }
      if (records) {
        const present = new Set(records.filter((record) => record.state !== 'lost').map((record) => record.name));
        for (const id of vanishedEntries(book, present)) {
          if (await this.ledger.closeMachine(id, 'vanished')) {
            report.vanished.push(id);
            log(`Cost entry ${id} closed: its machine is no longer listed by the provider.`);
          }
        }
        report.failedCreates = await this.destroyFailedCreates(records, book);
        book = await this.ledger.load();
      }
      const idsOf = new Map((records ?? []).map((record) => [record.name, record.id]));
      const overdue = book.openMachines().filter((entry) => atMs >= entry.untilMs);
      const limit = createLimiter(ENFORCE_CONCURRENCY);
      const busy = new Map<string, boolean>();
      await Promise.all(overdue.map((entry) => limit(async () => busy.set(entry.sandbox, await this.busy(entry.sandbox)))));
      const actions = ttlActions(
        runningSandboxes(book, (sandbox) => busy.get(sandbox) ?? false),
        atMs,
      );
      // A failure is its action's outcome, so one failure leaves the others running.
      report.actions = await Promise.all(
        actions.map((action) =>
          limit(() => this.act(action, idsOf.get(action.sandbox) ?? '')).catch((error: unknown) => ({
            ...action,
            outcome: 'failed' as const,
            error: describeError(error),
          })),
        ),
      );
    }
    const settings = await (this.options.settings?.() ?? readBudgetSettings(this.options.stateRoot));
    const fired = await fireDueAlerts({ ledger: this.ledger, settings, nowMs: this.clock(), emit: (event) => controller.events.emit(event) });
    report.alerts = fired.alerts;
    for (const alert of fired.alerts) log(alert.message);
    return report;
  }

  /**
   * A create that failed, or was interrupted, and still has a priced entry may have left a machine
   * its cleanup could not remove (the API was down): destroyed now, tried again at the next check.
   */
  private async destroyFailedCreates(records: SandboxRecord[], book: LedgerBook): Promise<string[]> {
    const { controller, log } = this.options;
    const destroyed: string[] = [];
    for (const record of records.filter((candidate) => isInterrupted(candidate) && book.openMachineOf(candidate.name))) {
      if (this.stopped) break;
      try {
        await controller.delete(record.name, this.abort.signal);
        destroyed.push(record.name);
        log(`${record.name}, a failed create whose machine still cost, is destroyed.`);
      } catch (error) {
        log(`Destroying ${record.name}, a failed create, failed (${describeError(error)}); it is tried again at the next check.`);
      }
    }
    return destroyed;
  }

  private async busy(sandbox: string): Promise<boolean> {
    if (this.options.isBusy) return this.options.isBusy(sandbox).catch(() => true);
    return probeBusy(this.options.controller, sandbox, this.abort.signal);
  }

  private async act(action: TtlAction, sandboxId: string): Promise<EnforcementReport['actions'][number]> {
    const { controller, log } = this.options;
    if (this.stopped) return { ...action, outcome: 'skipped' };
    try {
      if (!this.announced.has(action.entryId)) {
        log(action.reason);
        await controller.events.emit({
          type: 'cost.expired',
          sandboxId,
          name: action.sandbox,
          action: action.action,
          overdueMs: action.overdueMs,
          reason: action.reason,
        });
        this.announced.add(action.entryId);
      }
      if (action.action === 'hibernate') await controller.hibernate(action.sandbox, this.abort.signal);
      else await controller.delete(action.sandbox, this.abort.signal);
      return { ...action, outcome: 'done' };
    } catch (error) {
      if (isSandboxError(error, 'not-found')) {
        // No sandbox of that name any more: its entry is all that is left of it.
        await this.ledger.closeMachine(action.entryId, 'vanished');
        return { ...action, outcome: 'done' };
      }
      const message = describeError(error);
      log(`${action.action === 'hibernate' ? 'Hibernating' : 'Destroying'} ${action.sandbox} failed (${message}); it is tried again at the next check.`);
      return { ...action, outcome: 'failed', error: message };
    }
  }
}

/** Whether a command of ours runs in the sandbox; when the probe cannot tell, busy (a snapshot is kept rather than work lost). */
export async function probeBusy(controller: Pick<EnforcedController, 'inspectExec'>, sandbox: string, signal?: AbortSignal): Promise<boolean> {
  try {
    const result = await controller.inspectExec(sandbox, { command: BUSY_PROBE, timeoutMs: PROBE_TIMEOUT_MS, signal, maxOutputBytes: 1024 });
    const count = Number(result.stdout.trim());
    return result.exitCode !== 0 || !Number.isInteger(count) || count > 0;
  } catch {
    return true;
  }
}
