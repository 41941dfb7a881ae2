import { SandboxError } from '../core/errors';
import type { ProviderKind } from '../core/model';
import { DEFAULT_PROVIDER_KIND, HOSTED_PROVIDER_KIND, providerKindInfo, providerKindInfos } from '../core/providers/kinds';

/** Parses `30s`, `5m`, `1h`, `250ms` or a plain number of seconds into milliseconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match) throw new SandboxError('invalid-input', `The ${what} "${text}" is not a duration; write it like 30s, 5m or 250ms.`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's']!;
  return Math.round(Number(match[1]) * factor);
}

export function parseNumber(text: string, what: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new SandboxError('invalid-input', `The ${what} "${text}" is not a number; give one like 2.`);
  return value;
}

export function parseEnvPairs(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new SandboxError('invalid-input', `The environment entry "${pair}" needs the form NAME=VALUE.`);
    env[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return env;
}

/** The provider a create asks for: the one named, else the one of SSH hosts when a host is named, else the default. */
export function parseProviderKind(named: string | undefined, host: string | undefined): ProviderKind {
  if (named === undefined) return host !== undefined ? HOSTED_PROVIDER_KIND : DEFAULT_PROVIDER_KIND;
  const info = providerKindInfo(named);
  if (!info) {
    const kinds = providerKindInfos().map((entry) => entry.kind);
    throw new SandboxError('invalid-input', `The provider "${named}" is not one of ${kinds.join(', ')}.`);
  }
  return info.kind;
}
