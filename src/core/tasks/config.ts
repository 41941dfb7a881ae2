import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SandboxError, describeError } from '../errors';
import type { Profile, ProviderKind } from '../model';
import { DEFAULT_DESKTOP_GEOMETRY, parseLogPatterns, parseSize } from '../profile';
import { readJsonFile, writeFileAtomic } from '../store/files';
import { DEFAULT_PROFILE_NAME } from './model';
import { QUEUE_FILE } from './queue';

export const TASKS_CONFIG_FILE = 'tasks.json';

/** A named way to make a task's sandbox: its limits, and where it may go. */
export interface TaskProfile {
  profile: Partial<Profile>;
  /** Only placements of this provider (and host) take it; absent: any. */
  provider?: ProviderKind;
  host?: string;
}

export interface PoolSettings {
  /** Sandboxes kept started and ready (the minimum). */
  size: number;
  /** At most this many sandboxes of the profile at once, warm and busy together. */
  max: number;
  /** Sandboxes above `size` idle this long are destroyed. */
  idleMinutes: number;
}

/** The scheduler's settings: `tasks.json` in the state dir (docs/tasks.md). */
export interface TasksConfig {
  /** Tasks placed at once: in all, per provider, per placement key (`docker`, `ssh:<host>`). */
  limits: { global: number; perProvider: Partial<Record<ProviderKind, number>>; perPlacement: Record<string, number> };
  pools: Record<string, PoolSettings>;
  profiles: Record<string, TaskProfile>;
  /** Capacity the user declares per placement key; wins over what is measured. */
  placements: Record<string, { cpus?: number; memory?: number }>;
  /** A queued task climbs one priority for every this many minutes it waited. */
  agingMinutes: number;
  /** How long a machine may stay silent before its tasks move elsewhere. */
  graceSeconds: number;
}

export const DEFAULT_POOL_SIZE = 2;
export const DEFAULT_IDLE_MINUTES = 5;
export const DEFAULT_GLOBAL_LIMIT = 4;

/** Profiles every state dir has. */
export const BUILTIN_PROFILES: Record<string, TaskProfile> = {
  [DEFAULT_PROFILE_NAME]: { profile: {} },
  desktop: { profile: { desktop: DEFAULT_DESKTOP_GEOMETRY } },
};

export function defaultTasksConfig(): TasksConfig {
  return {
    limits: { global: DEFAULT_GLOBAL_LIMIT, perProvider: {}, perPlacement: {} },
    pools: { [DEFAULT_PROFILE_NAME]: { size: DEFAULT_POOL_SIZE, max: DEFAULT_GLOBAL_LIMIT, idleMinutes: DEFAULT_IDLE_MINUTES } },
    profiles: {},
    placements: {},
    agingMinutes: 10,
    graceSeconds: 30,
  };
}

export function tasksConfigFile(stateRoot: string): string {
  return path.join(stateRoot, TASKS_CONFIG_FILE);
}

/** The settings, with defaults for what the file leaves out; a wrong value is named in one sentence. */
export async function readTasksConfig(stateRoot: string): Promise<TasksConfig> {
  return (await readConfigFile(stateRoot)).config;
}

/**
 * The settings the scheduler works by: those of `readTasksConfig`, except that the default pool,
 * unless tasks.json sets it, stays empty until the state dir's first task. A daemon started only
 * to watch cloud sandboxes' time-to-live then makes no containers.
 */
export async function readSchedulerConfig(stateRoot: string): Promise<TasksConfig> {
  const { config, raw } = await readConfigFile(stateRoot);
  const pools = (raw as { pools?: unknown } | undefined)?.pools;
  const named = typeof pools === 'object' && pools !== null && DEFAULT_PROFILE_NAME in pools;
  const pool = config.pools[DEFAULT_PROFILE_NAME];
  if (!named && pool && !(await hadFirstTask(stateRoot))) config.pools[DEFAULT_PROFILE_NAME] = { ...pool, size: 0 };
  return config;
}

/** State dirs seen with a task: the queue file only grows from its first line on (compaction keeps the recent tasks). */
const withTasks = new Set<string>();

async function hadFirstTask(stateRoot: string): Promise<boolean> {
  if (withTasks.has(stateRoot)) return true;
  const info = await fs.stat(path.join(stateRoot, QUEUE_FILE)).catch(() => undefined);
  if (!info || info.size === 0) return false;
  withTasks.add(stateRoot);
  return true;
}

async function readConfigFile(stateRoot: string): Promise<{ config: TasksConfig; raw: unknown }> {
  const file = tasksConfigFile(stateRoot);
  let raw: unknown;
  try {
    raw = await readJsonFile<unknown>(file);
  } catch (error) {
    throw new SandboxError('invalid-input', `${file} is not valid JSON (${(error as Error).message}); fix or remove it.`);
  }
  return { config: parseTasksConfig(raw ?? {}, file), raw };
}

export async function writeTasksConfig(stateRoot: string, config: TasksConfig): Promise<void> {
  await writeFileAtomic(tasksConfigFile(stateRoot), JSON.stringify(config, null, 2) + '\n');
}

export function parseTasksConfig(raw: unknown, where = TASKS_CONFIG_FILE): TasksConfig {
  const config = defaultTasksConfig();
  const fail = (what: string): never => {
    throw new SandboxError('invalid-input', `In ${where}, ${what}; fix it, or remove the entry for the default.`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('the content is not an object');
  const input = raw as Record<string, unknown>;
  const count = (value: unknown, name: string, min = 0): number => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 1000) fail(`${name} must be a whole number from ${min} to 1000`);
    return value as number;
  };
  const object = (value: unknown, name: string): Record<string, unknown> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${name} must be an object`);
    return value as Record<string, unknown>;
  };
  if (input.limits !== undefined) {
    const limits = object(input.limits, 'limits');
    if (limits.global !== undefined) config.limits.global = count(limits.global, 'limits.global', 1);
    for (const [key, value] of Object.entries(object(limits.perProvider ?? {}, 'limits.perProvider'))) {
      config.limits.perProvider[key as ProviderKind] = count(value, `limits.perProvider.${key}`);
    }
    for (const [key, value] of Object.entries(object(limits.perPlacement ?? {}, 'limits.perPlacement'))) {
      config.limits.perPlacement[key] = count(value, `limits.perPlacement.${key}`);
    }
  }
  if (input.profiles !== undefined) {
    for (const [name, value] of Object.entries(object(input.profiles, 'profiles'))) {
      config.profiles[name] = parseProfileEntry(object(value, `profiles.${name}`), `profiles.${name}`, fail);
    }
  }
  if (input.pools !== undefined) {
    for (const [name, value] of Object.entries(object(input.pools, 'pools'))) {
      const entry = object(value, `pools.${name}`);
      const size = count(entry.size ?? 0, `pools.${name}.size`);
      const max = count(entry.max ?? Math.max(size, config.limits.global), `pools.${name}.max`);
      if (max < size) fail(`pools.${name}.max (${max}) is below its size (${size})`);
      const idle = entry.idleMinutes ?? DEFAULT_IDLE_MINUTES;
      if (typeof idle !== 'number' || !(idle > 0)) fail(`pools.${name}.idleMinutes must be a positive number`);
      config.pools[name] = { size, max, idleMinutes: idle as number };
    }
  }
  if (input.placements !== undefined) {
    for (const [key, value] of Object.entries(object(input.placements, 'placements'))) {
      const entry = object(value, `placements.${key}`);
      const declared: { cpus?: number; memory?: number } = {};
      if (entry.cpus !== undefined) {
        if (typeof entry.cpus !== 'number' || !(entry.cpus > 0)) fail(`placements.${key}.cpus must be a positive number`);
        declared.cpus = entry.cpus as number;
      }
      if (entry.memory !== undefined) declared.memory = sizeOf(entry.memory, `placements.${key}.memory`, fail);
      config.placements[key] = declared;
    }
  }
  if (input.agingMinutes !== undefined) {
    if (typeof input.agingMinutes !== 'number' || !(input.agingMinutes > 0)) fail('agingMinutes must be a positive number');
    config.agingMinutes = input.agingMinutes as number;
  }
  if (input.graceSeconds !== undefined) {
    if (typeof input.graceSeconds !== 'number' || !(input.graceSeconds > 0)) fail('graceSeconds must be a positive number');
    config.graceSeconds = input.graceSeconds as number;
  }
  return config;
}

function sizeOf(value: unknown, name: string, fail: (what: string) => never): number {
  if (typeof value === 'number' && value > 0) return value;
  if (typeof value === 'string') return parseSize(value, name);
  return fail(`${name} must be a size such as "4g" or a number of bytes`);
}

function parseProfileEntry(entry: Record<string, unknown>, name: string, fail: (what: string) => never): TaskProfile {
  const profile: Partial<Profile> = {};
  if (entry.cpus !== undefined) {
    if (typeof entry.cpus !== 'number' || !(entry.cpus > 0)) fail(`${name}.cpus must be a positive number`);
    profile.cpus = entry.cpus as number;
  }
  if (entry.memory !== undefined) profile.memory = sizeOf(entry.memory, `${name}.memory`, fail);
  if (entry.image !== undefined) {
    if (typeof entry.image !== 'string' || entry.image === '') fail(`${name}.image must be an image name`);
    profile.image = entry.image as string;
  }
  if (entry.desktop !== undefined) {
    if (typeof entry.desktop !== 'string') fail(`${name}.desktop must be a size such as "1280x800"`);
    profile.desktop = entry.desktop as string;
  }
  if (entry.network !== undefined) {
    if (typeof entry.network !== 'string') fail(`${name}.network must be text such as "default" or "none"`);
    profile.network = entry.network as string;
  }
  if (entry.sudo !== undefined) profile.sudo = entry.sudo === true;
  if (entry.logs !== undefined) {
    try {
      profile.logs = parseLogPatterns(entry.logs);
    } catch (error) {
      fail(`${name}.logs: ${describeError(error)}`);
    }
  }
  const result: TaskProfile = { profile };
  if (entry.provider !== undefined) {
    if (entry.provider !== 'docker' && entry.provider !== 'ssh') fail(`${name}.provider must be "docker" or "ssh"`);
    result.provider = entry.provider as ProviderKind;
  }
  if (entry.host !== undefined) {
    if (typeof entry.host !== 'string') fail(`${name}.host must be a registered host's name`);
    result.host = entry.host as string;
  }
  return result;
}

/** The profile of that name, or a sentence listing the ones there are. */
export function findProfile(config: TasksConfig, name: string): TaskProfile {
  const found = config.profiles[name] ?? BUILTIN_PROFILES[name];
  if (!found) {
    const names = [...new Set([...Object.keys(BUILTIN_PROFILES), ...Object.keys(config.profiles)])].sort();
    throw new SandboxError(
      'invalid-input',
      `There is no profile "${name}"; use one of ${names.join(', ')}, or add it under "profiles" in ${TASKS_CONFIG_FILE}.`,
    );
  }
  return found;
}

/** The pool of a profile: its settings, or none kept warm (size 0) when not configured. */
export function poolOf(config: TasksConfig, profileName: string): PoolSettings {
  return config.pools[profileName] ?? { size: 0, max: config.limits.global, idleMinutes: DEFAULT_IDLE_MINUTES };
}
