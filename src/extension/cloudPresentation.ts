import { formatDuration } from '../app/format';
import {
  DIGITALOCEAN_BILLING,
  formatUsd,
  formatUsdPerHour,
  gpuConfirmation,
  isGpuSize,
  machineCostAtAge,
  priceLine,
  type BillingRules,
} from '../core/cost/billing';
import { describeError } from '../core/errors';
import type { SandboxRecord } from '../core/model';
import type { RegionOffer, SizeOffer } from '../core/providers/digitalocean/catalog';

/**
 * How cloud choices and cloud sandboxes look in quick picks and the tree. No vscode import (tested
 * in plain Node), and only type imports of the DigitalOcean catalog, so the activation bundle stays light.
 */

/** A quick-pick row, without vscode's type. */
export interface PickItemText {
  label: string;
  description?: string;
  detail?: string;
}

/** `New York 3`, with its slug (what the CLI's --region takes) beside it. */
export function regionPickItem(region: RegionOffer): PickItemText {
  return { label: region.name, description: region.slug };
}

/**
 * `s-1vcpu-1gb: 1 vCPU, 1 GB, $0.00893/h (about $0.21 a day)`; a GPU size is marked in the label
 * and says that it asks for a yes before anything is made.
 */
export function sizePickItem(size: SizeOffer): PickItemText {
  const line = priceLine(size);
  if (!isGpuSize(size)) return { label: line, detail: size.description };
  return { label: `$(warning) GPU ${line}`, detail: `${size.description ? `${size.description}; ` : ''}asks you to confirm its price before anything is made` };
}

/** The modal question before a GPU size is made, or undefined for a size that needs none. */
export function gpuQuestion(size: SizeOffer): string | undefined {
  const confirmation = gpuConfirmation(size, false);
  if (!confirmation.needed) return undefined;
  return `${confirmation.priceLine}. This is a GPU size: it bills by the second from its creation until it is deleted or hibernated, stopped or not. Create it?`;
}

/** What the ledger says about a sandbox's running machine, for its tooltip. */
export interface CloudCost {
  usdPerHour: number;
  openedMs: number;
  /** Its time-to-live: past it the daemon destroys it (idle) or hibernates it (busy). */
  untilMs: number;
}

/** `nyc3 · $0.00893/h · up 5m`: where it runs and what it costs an hour, then its state as for any sandbox. */
export function cloudDescriptionOf(record: SandboxRecord, now = Date.now()): string | undefined {
  const cloud = record.cloud;
  if (!cloud) return undefined;
  const where = cloud.hibernatedAs ? `${cloud.region} · hibernated` : `${cloud.region} · ${formatUsdPerHour(cloud.usdPerHour)}`;
  if (cloud.hibernatedAs) return where;
  if (record.state === 'running' && record.startedAt) return `${where} · up ${formatDuration(now - Date.parse(record.startedAt))}`;
  return `${where} · ${record.state}`;
}

/** Markdown lines for a cloud sandbox's tooltip: size and price, what it has cost so far, and its time-to-live. */
export function cloudTooltipLines(record: SandboxRecord, cost: CloudCost | undefined, now = Date.now(), rules: BillingRules = DIGITALOCEAN_BILLING): string[] {
  const cloud = record.cloud;
  if (!cloud) return [];
  const lines = [`- region: ${cloud.region}`, `- size: \`${cloud.size}\`, ${formatUsdPerHour(cloud.usdPerHour)}`];
  if (cloud.hibernatedAs) {
    lines.push(`- hibernated as snapshot \`${cloud.hibernatedAs}\`: no machine bills; Start makes it again`);
    return lines;
  }
  if (!cost) {
    lines.push('- cost so far: not in the cost ledger (run `sandbox cost` to see the month)');
    return lines;
  }
  const age = now - cost.openedMs;
  lines.push(`- cost so far: ${formatUsd(machineCostAtAge(cost.usdPerHour, age, rules))} (${formatDuration(age)} at ${formatUsdPerHour(cost.usdPerHour)})`);
  const left = cost.untilMs - now;
  const until = new Date(cost.untilMs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  lines.push(
    left > 0
      ? `- time-to-live: ${formatDuration(left)} left (until ${until}); then deleted when idle, hibernated when busy`
      : `- time-to-live: passed at ${until}; the daemon deletes it when idle, hibernates it when busy`,
  );
  return lines;
}

/** One sentence: why the token was not kept, and what to do. */
export function signInFailure(error: unknown): string {
  if ((error as { failure?: unknown } | undefined)?.failure === 'unauthorized') {
    return 'DigitalOcean refused that token, so nothing was stored; copy it again from the control panel (API > Tokens) and sign in again.';
  }
  return `Nothing was stored: ${describeError(error)}`;
}
