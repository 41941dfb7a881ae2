import { SandboxError } from '../core/errors';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * The start of a `--since` window as milliseconds since the epoch: an age (`30s`, `10m`, `2h`,
 * `1d`, `1w`) counted back from `now`, or a time in ISO 8601 (`2026-12-06`, `2026-12-06T09:30Z`).
 */
export function parseSince(text: string, now: number = Date.now()): number {
  const trimmed = text.trim();
  const age = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(trimmed);
  if (age) return now - Math.round(Number(age[1]) * UNIT_MS[age[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const time = Date.parse(trimmed);
    if (Number.isFinite(time)) return time;
  }
  throw new SandboxError('invalid-input', `The time "${text}" is neither an age like 10m, 2h or 1d nor an ISO time like 2026-12-06T09:30Z.`);
}
