import { CLOUD_PROVIDER_KINDS, isCloudKind } from '../core/cloud/kinds';
import { checkMonthlyBudget } from '../core/cost/settings';
import { SandboxError } from '../core/errors';
import { CLOUD_OSES, type CloudCreateOptions, type CloudOs, type ProviderKind } from '../core/model';

export { CLOUD_PROVIDER_KINDS, isCloudKind };

/** The cloud options of `sandbox start`, as typed (strings and the `--yes` switch). */
export interface CloudFlags {
  region?: string;
  size?: string;
  gpu?: string;
  yes?: boolean;
  ttl?: string;
  os?: string;
  budget?: string;
}

const FLAG_ORDER: (keyof CloudFlags)[] = ['region', 'size', 'gpu', 'yes', 'ttl', 'os', 'budget'];
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };
/** A time-to-live longer than a month is a typo or a forgotten machine, not a plan. */
const MAX_TTL_MS = 31 * UNIT_MS.d!;

/** The cloud flags given, by their option names (`--region`...), in the order the help lists them. */
export function givenCloudFlags(flags: CloudFlags): string[] {
  return FLAG_ORDER.filter((flag) => flags[flag] !== undefined && flags[flag] !== false).map((flag) => `--${flag}`);
}

/**
 * Maps `--region`, `--size`, `--gpu`, `--yes`, `--ttl`, `--os` and `--budget` into a create's cloud
 * options for a cloud provider; with another provider any of them is refused in one sentence.
 * Undefined when the create is not a cloud one (and no cloud flag was given).
 */
export function cloudCreateOptions(kind: ProviderKind | undefined, flags: CloudFlags): CloudCreateOptions | undefined {
  const given = givenCloudFlags(flags);
  if (!isCloudKind(kind)) {
    if (given.length === 0) return undefined;
    throw new SandboxError(
      'invalid-input',
      `${given[0]} applies only to cloud sandboxes, not to the ${kind ?? 'default'} provider; add --provider ${CLOUD_PROVIDER_KINDS[0]} or leave ${given[0]} out.`,
    );
  }
  const options: CloudCreateOptions = {};
  if (flags.region !== undefined) options.region = slug(flags.region, 'region', 'nyc3');
  if (flags.size !== undefined) options.size = slug(flags.size, 'size', 's-2vcpu-4gb');
  if (flags.gpu !== undefined) options.gpu = slug(flags.gpu, 'GPU model', 'h100').toLowerCase();
  if (flags.size !== undefined && flags.gpu !== undefined)
    throw new SandboxError('invalid-input', 'Give either --size or --gpu (the cheapest size with that GPU), not both.');
  if (flags.yes) options.confirmGpu = true;
  if (flags.ttl !== undefined) options.ttlMs = parseTimeToLive(flags.ttl);
  if (flags.os !== undefined) options.os = parseCloudOs(flags.os);
  if (flags.budget !== undefined) options.budgetUsd = checkMonthlyBudget(flags.budget);
  return options;
}

/** `90m`, `2h`, `1h30m`, `1d`: a time-to-live or an extension. A bare number is refused: minutes or hours? */
export function parseTimeToLive(text: string, what = 'time-to-live'): number {
  const compact = text.trim().toLowerCase();
  const parts = [...compact.matchAll(/(\d+(?:\.\d+)?)([mhd])/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== compact) {
    throw new SandboxError('invalid-input', `The ${what} "${text}" is not a duration; write it like 90m, 2h or 1h30m.`);
  }
  const ms = Math.round(parts.reduce((total, part) => total + Number(part[1]) * UNIT_MS[part[2]!]!, 0));
  if (ms < 60_000) throw new SandboxError('invalid-input', `The ${what} "${text}" is shorter than a minute; give one like 30m or 2h.`);
  if (ms > MAX_TTL_MS) throw new SandboxError('invalid-input', `The ${what} "${text}" is longer than 31 days; give one like 2h or 3d.`);
  return ms;
}

export function parseCloudOs(text: string): CloudOs {
  const os = text.trim().toLowerCase() as CloudOs;
  if (!CLOUD_OSES.includes(os)) throw new SandboxError('invalid-input', `The system "${text}" is not offered; give ${CLOUD_OSES.join(' or ')}.`);
  return os;
}

function slug(text: string, what: string, example: string): string {
  const value = text.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) {
    throw new SandboxError('invalid-input', `The ${what} "${text}" is not a DigitalOcean slug; write it like ${example}.`);
  }
  return value;
}
