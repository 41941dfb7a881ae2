/**
 * Budget alerts as notices in an editor window. Alerts are fired by whichever process checks the
 * budget (the CLI after a create, the daemon at its checks) and reach the editor through the
 * state dir's events.jsonl. Each is shown once per state dir, whatever the number of windows and
 * restarts: the window that creates its marker file (exclusively) shows it, the others do not.
 * Alerts of this month fired while no window was open are shown at the next start; of a burst
 * (50% and 80% from one create) only the highest is shown, and none below one already shown.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { EventLog } from '../events/eventLog';
import type { BusEvent, CostAlertEvent } from '../events/types';
import { ALERT_PERCENTS, type AlertPercent } from './fold';
import { COST_DIR } from './ledger';
import { monthOf } from './month';

const NOTICES_DIR = 'alert-notices';
/** Alerts that arrive this close together are one burst: only the highest is shown. */
export const ALERT_BURST_MS = 300;

export interface AlertNotice {
  percent: AlertPercent;
  month: string;
  message: string;
}

/** The marker of an alert shown: `cost/alert-notices/2026-12-80`. */
export function alertNoticeMarker(stateRoot: string, month: string, percent: AlertPercent): string {
  return path.join(stateRoot, COST_DIR, NOTICES_DIR, `${month}-${percent}`);
}

/**
 * Of a batch of events, the alert this process is to show now, if any: the highest of this
 * month's alerts, unless it (or a higher one) was shown already, and only if this call made its
 * marker. The lower alerts of the batch are marked too, so a later batch never shows them.
 */
export async function claimAlertNotice(stateRoot: string, events: readonly BusEvent[], nowMs: number): Promise<AlertNotice | undefined> {
  const month = monthOf(nowMs).key;
  const alerts = events.filter((event): event is CostAlertEvent => event.type === 'cost.alert' && event.month === month);
  if (alerts.length === 0) return undefined;
  const highest = alerts.reduce((best, alert) => (alert.percent > best.percent ? alert : best));
  for (const percent of ALERT_PERCENTS.filter((candidate) => candidate > highest.percent)) {
    if (await exists(alertNoticeMarker(stateRoot, month, percent))) return undefined;
  }
  const won = await createMarker(alertNoticeMarker(stateRoot, month, highest.percent));
  for (const alert of alerts) if (alert.percent < highest.percent) await createMarker(alertNoticeMarker(stateRoot, month, alert.percent));
  return won ? { percent: highest.percent, month, message: highest.message } : undefined;
}

export interface WatchAlertNoticesOptions {
  stateRoot: string;
  log: Pick<EventLog, 'read' | 'follow'>;
  signal: AbortSignal;
  /** Called with each notice this process won; never twice for one alert. */
  show(notice: AlertNotice): void;
  clock?: () => number;
  burstMs?: number;
}

/**
 * Shows the alerts of the event log: first those already in it (fired while no window was open),
 * then each burst as it is appended, until the signal aborts.
 */
export async function watchAlertNotices(options: WatchAlertNoticesOptions): Promise<void> {
  const { stateRoot, log, signal, show } = options;
  const clock = options.clock ?? Date.now;
  const burstMs = options.burstMs ?? ALERT_BURST_MS;
  // One claim at a time: a burst is judged after the one before it made its markers.
  let claims = Promise.resolve();
  const claim = (events: BusEvent[]) => {
    claims = claims
      .then(() => claimAlertNotice(stateRoot, events, clock()))
      .then((notice) => {
        if (notice && !signal.aborted) show(notice);
      });
    return claims;
  };
  const past = await log.read(0);
  await claim(past.events);
  let burst: BusEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const events = burst;
    burst = [];
    void claim(events).catch(() => undefined);
  };
  try {
    for await (const event of log.follow(past.nextOffset, signal, past.fileId)) {
      if (event.type !== 'cost.alert') continue;
      burst.push(event);
      timer ??= setTimeout(flush, burstMs);
    }
  } finally {
    if (timer) clearTimeout(timer);
  }
  await claims;
}

/** Creates the file only if it is not there: true for the one caller that made it. */
async function createMarker(file: string): Promise<boolean> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    await (await fs.open(file, 'wx', 0o600)).close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
