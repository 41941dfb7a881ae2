import { SandboxError } from './errors';
import type { Profile } from './model';
import { parseHostEntry, parseNetworkPolicy } from './network/policy';

export const MIN_MEMORY = 64 * 1024 * 1024;
/** The engine's smallest CPU quota. */
export const MIN_CPUS = 0.01;
export const MIN_PIDS = 32;

export const DEFAULT_PROFILE_LIMITS = { cpus: 2, memory: 2 * 1024 ** 3, pids: 1024, sudo: true } as const;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Parses a size such as `512m`, `2g`, `2GiB` or a plain byte count. */
export function parseSize(text: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!match) throw new SandboxError('invalid-input', `The ${what} "${text}" is not a size; write it like 512m or 2g.`);
  return Math.round(Number(match[1]) * UNITS[match[2]!.toLowerCase()]!);
}

export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= factor) return `${Number((bytes / factor).toFixed(1))} ${unit}`;
  }
  return `${bytes} B`;
}

/** Checks a profile against what the machine can give; one sentence naming the field when it cannot. */
export function validateProfile(profile: Profile, capacity: { cpus: number; memory: number }): void {
  if (!Number.isFinite(profile.cpus) || profile.cpus < MIN_CPUS) {
    throw new SandboxError('invalid-input', `The CPU count ${profile.cpus} is too small; give at least ${MIN_CPUS}, such as 1 or 0.5.`);
  }
  if (profile.cpus > capacity.cpus) {
    throw new SandboxError(
      'resource-limit',
      `The profile asks for ${profile.cpus} CPUs but the engine has ${capacity.cpus}; ask for ${capacity.cpus} or fewer.`,
    );
  }
  if (!Number.isFinite(profile.memory) || profile.memory < MIN_MEMORY) {
    throw new SandboxError('resource-limit', `The memory limit ${formatSize(profile.memory)} is below the minimum of ${formatSize(MIN_MEMORY)}; ask for more.`);
  }
  if (profile.memory > capacity.memory) {
    throw new SandboxError(
      'resource-limit',
      `The memory limit ${formatSize(profile.memory)} is more than the engine's ${formatSize(capacity.memory)}; ask for ${formatSize(capacity.memory)} or less.`,
    );
  }
  if (!Number.isInteger(profile.pids) || profile.pids < MIN_PIDS) {
    throw new SandboxError('invalid-input', `The process limit ${profile.pids} is too low; give at least ${MIN_PIDS}.`);
  }
  if (profile.image.trim() === '') throw new SandboxError('invalid-input', 'The image name is empty; give an image tag.');
  if (profile.desktop !== undefined) parseGeometry(profile.desktop);
  parseNetworkPolicy(profile.network);
  for (const entry of profile.hosts ?? []) parseHostEntry(entry);
  if (profile.logs !== undefined) parseLogPatterns(profile.logs);
}

export const MAX_LOG_PATTERNS = 16;
const MAX_LOG_PATTERN_CHARS = 512;

/**
 * A profile's agent log patterns (`logs`): at most MAX_LOG_PATTERNS globs, each absolute or under
 * the agent's home (`~/`), on one line. They are matched inside the sandbox as its agent user.
 */
export function parseLogPatterns(patterns: unknown): string[] {
  if (!Array.isArray(patterns) || patterns.some((p) => typeof p !== 'string')) {
    throw new SandboxError('invalid-input', 'The log patterns must be a list of paths such as ["~/workspace/*.log", "/tmp/agent/*.log"].');
  }
  if (patterns.length > MAX_LOG_PATTERNS) {
    throw new SandboxError('invalid-input', `The profile names ${patterns.length} log patterns; give at most ${MAX_LOG_PATTERNS}.`);
  }
  for (const pattern of patterns as string[]) {
    const oneLine = !/[\u0000-\u001f\u007f]/.test(pattern);
    if (!(pattern.startsWith('/') || pattern.startsWith('~/')) || !oneLine || pattern.length > MAX_LOG_PATTERN_CHARS || pattern.endsWith('/')) {
      throw new SandboxError(
        'invalid-input',
        `The log pattern "${pattern.slice(0, 80)}" is not a file path; give one that starts with / or ~/ and names files, like ~/workspace/*.log.`,
      );
    }
  }
  return patterns as string[];
}

export const DEFAULT_DESKTOP_GEOMETRY = '1280x800';

/** "1280x800" → [1280, 800], or a clear refusal. */
export function parseGeometry(text: string): [number, number] {
  const match = /^(\d{3,4})x(\d{3,4})$/.exec(text.trim());
  const width = Number(match?.[1]);
  const height = Number(match?.[2]);
  if (!match || width < 320 || height < 240 || width > 7680 || height > 4320) {
    throw new SandboxError('invalid-input', `"${text}" is not a desktop size; give WIDTHxHEIGHT between 320x240 and 7680x4320, like 1280x800.`);
  }
  return [width, height];
}

const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

export function validateName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new SandboxError('invalid-input', `The name "${name}" is not valid; use 1-40 lowercase letters, digits and inner hyphens, like "fix-login-2".`);
  }
}

/** The longest sandbox name. */
export const MAX_NAME_LENGTH = 40;
/**
 * Snapshot names follow sandbox names, with room for a suffix: a sandbox's longest name plus
 * `-fork-yyyymmdd-hhmmss` still fits (the default name of a fork's snapshot).
 */
const SNAPSHOT_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function validateSnapshotName(name: string): void {
  if (!SNAPSHOT_NAME_PATTERN.test(name)) {
    throw new SandboxError(
      'invalid-input',
      `The snapshot name "${name}" is not valid; use 1-63 lowercase letters, digits and inner hyphens, like "fix-login-before-merge".`,
    );
  }
}
