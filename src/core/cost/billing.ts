/**
 * What running a machine or storing a snapshot costs, as the provider bills it (docs/cost.md).
 * Pure arithmetic on milliseconds since the epoch and US dollars: no clock, no I/O.
 */

/** Milliseconds since the epoch. Every function takes the time it needs from its caller, so a test can drive a month in a second. */
export type Clock = () => number;

export const HOUR_MS = 3_600_000;

/** How a provider bills machines and snapshots. */
export interface BillingRules {
  /** A machine's lifetime (create to destroy) is billed for at least this many seconds... */
  minimumSeconds: number;
  /** ...and at least this much, whichever is higher. */
  minimumChargeUsd: number;
  /** The month a monthly price is spread over: DigitalOcean's $6/month size costs $0.00893/h, which is 672 hours. */
  billingMonthHours: number;
}

/**
 * DigitalOcean: per second, with a 60-second or $0.01 minimum per droplet, and a powered-off
 * droplet billed like a running one (only destroying stops the cost). No monthly cap is applied:
 * without one our figure can only be higher than the bill, which is the side a budget must err on.
 */
export const DIGITALOCEAN_BILLING: BillingRules = { minimumSeconds: 60, minimumChargeUsd: 0.01, billingMonthHours: 672 };

/** DigitalOcean's published snapshot storage price per GB and month; the API does not list it, so it is a setting. */
export const REFERENCE_SNAPSHOT_USD_PER_GB_MONTH = 0.06;

/** What a machine has cost once it has lived `ageMs`: the minimum from its first second, then whole seconds. */
export function machineCostAtAge(usdPerHour: number, ageMs: number, rules: BillingRules): number {
  if (ageMs < 0) return 0;
  const billedSeconds = Math.max(rules.minimumSeconds, Math.ceil(ageMs / 1000));
  return Math.max(rules.minimumChargeUsd, (billedSeconds * usdPerHour) / 3600);
}

/**
 * The part of a machine's cost that falls in [fromMs, toMs), for a machine created at `openedMs`
 * that ends (or is expected to end) at `endMs`. The minimum belongs to the window the machine was
 * made in, so the parts of one lifetime over consecutive months add up to its whole cost.
 */
export function machineCostBetween(usdPerHour: number, openedMs: number, endMs: number, fromMs: number, toMs: number, rules: BillingRules): number {
  if (openedMs >= toMs) return 0;
  const end = Math.min(Math.max(endMs, openedMs), toMs);
  if (openedMs >= fromMs) return machineCostAtAge(usdPerHour, end - openedMs, rules);
  if (end <= fromMs) return 0;
  return machineCostAtAge(usdPerHour, end - openedMs, rules) - machineCostAtAge(usdPerHour, fromMs - openedMs, rules);
}

/** Snapshot storage in [fromMs, toMs): GB times the monthly price, prorated by the millisecond (no minimum). */
export function snapshotCostBetween(
  gb: number,
  usdPerGbMonth: number,
  storedMs: number,
  endMs: number,
  fromMs: number,
  toMs: number,
  rules: BillingRules,
): number {
  const overlap = Math.min(endMs, toMs) - Math.max(storedMs, fromMs);
  if (overlap <= 0) return 0;
  return (gb * usdPerGbMonth * overlap) / (rules.billingMonthHours * HOUR_MS);
}

/** A size as the provider lists it, with its price (read at run time: prices change). */
export interface SizePrice {
  slug: string;
  usdPerHour: number;
  usdPerMonth?: number;
  vcpus?: number;
  memoryMb?: number;
  diskGb?: number;
  gpu?: { count: number; model: string; vramGb?: number };
}

/** A GPU size costs hundreds of times a small one: creating one needs an explicit yes. */
export function isGpuSize(size: SizePrice): boolean {
  return (size.gpu !== undefined && size.gpu.count > 0) || /^gpu-/i.test(size.slug);
}

/** `gpu-h100x1-80gb: 1 × H100 (80 GB), $3.39/h (about $81.36 a day)`: what a person confirms. */
export function priceLine(size: SizePrice): string {
  const parts: string[] = [];
  if (size.gpu && size.gpu.count > 0) parts.push(`${size.gpu.count} × ${size.gpu.model}${size.gpu.vramGb !== undefined ? ` (${size.gpu.vramGb} GB)` : ''}`);
  else if (size.vcpus !== undefined && size.memoryMb !== undefined) parts.push(`${size.vcpus} vCPU, ${formatMemory(size.memoryMb)}`);
  parts.push(`${formatUsdPerHour(size.usdPerHour)} (about ${formatUsd(size.usdPerHour * 24)} a day)`);
  return `${size.slug}: ${parts.join(', ')}`;
}

export interface GpuConfirmation {
  /** True when nothing may be made until the person says yes. */
  needed: boolean;
  /** The size and its price, to show before asking. */
  priceLine: string;
  /** Set when confirmation is needed and not given: one sentence saying what to do. */
  refusal?: string;
}

/** Whether a create of `size` may go ahead: a GPU size needs `confirmed` (a yes in a prompt, `--yes` in scripts). */
export function gpuConfirmation(size: SizePrice, confirmed: boolean): GpuConfirmation {
  const line = priceLine(size);
  if (!isGpuSize(size)) return { needed: false, priceLine: line };
  if (confirmed) return { needed: true, priceLine: line };
  return { needed: true, priceLine: line, refusal: `${line}${GPU_REFUSAL_MARK}: confirm that price to create it (--yes in scripts).` };
}

const GPU_REFUSAL_MARK = ' is a GPU size; nothing was made';

/** The size and price a GPU refusal names, so a front end can ask the person and create again with their yes; undefined for any other message. */
export function gpuRefusalPriceLine(message: string): string | undefined {
  const at = message.indexOf(GPU_REFUSAL_MARK);
  return at > 0 ? message.slice(0, at) : undefined;
}

/** `$12.34`; amounts under a dollar keep enough digits to not read as zero (`$0.0179`). */
export function formatUsd(usd: number): string {
  if (usd !== 0 && Math.abs(usd) < 0.995) return `$${usd.toFixed(Math.abs(usd) < 0.01 ? 4 : 2)}`;
  return `$${usd.toFixed(2)}`;
}

/** Hourly prices of small sizes are fractions of a cent: `$0.00893/h`, `$3.39/h`. */
export function formatUsdPerHour(usd: number): string {
  return usd >= 1 ? `$${usd.toFixed(2)}/h` : `$${Number(usd.toPrecision(3))}/h`;
}

function formatMemory(mb: number): string {
  return mb >= 1024 ? `${Number((mb / 1024).toFixed(1))} GB` : `${mb} MB`;
}
