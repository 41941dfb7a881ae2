import { randomBytes } from 'node:crypto';
import { SandboxError, describeError, isSandboxError, type SandboxErrorCode } from '../errors';
import type { EventBus } from '../events/bus';
import type { SandboxRecord } from '../model';
import { MAX_NAME_LENGTH, validateSnapshotName } from '../profile';
import type { SnapshotInfo } from '../providers/provider';
import type { ProviderSet } from '../providers/registry';
import { assertUsable } from '../sandboxState';
import type { StateStore } from '../store/stateStore';
import { createLimiter } from '../util/limiter';
import type { CreateOptions, Progress } from './types';

export type { SnapshotInfo } from '../providers/provider';

/** How many sandboxes of one fork are made at once: each is an engine create, a start and a network setup. */
const FORK_PARALLELISM = 3;
/** The most sandboxes one fork makes. */
export const MAX_FORK_COUNT = 20;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface SnapshotOptions {
  /** Default: `<sandbox>-<yyyymmdd-hhmmss>` (UTC). */
  name?: string;
  note?: string;
  signal?: AbortSignal;
}

/** A snapshot, and the sandboxes of this state dir made from it (which keep its image in use). */
export interface SnapshotEntry extends SnapshotInfo {
  usedBy: string[];
}

export interface PruneSnapshotsOptions {
  /** The newest this many stay, whatever their age. */
  keep?: number;
  /** Among the others, only those older than this go. */
  maxAgeDays?: number;
  /** Who still needs a snapshot no sandbox runs (a running task's starting point): it stays, listed as in use. */
  heldBy?: (name: string) => string | undefined;
  signal?: AbortSignal;
}

export interface PruneSnapshotsResult {
  removed: SnapshotEntry[];
  /** Snapshots that would have gone but still carry sandboxes made from them. */
  inUse: SnapshotEntry[];
}

export interface ForkOptions {
  count: number;
  agentId?: string;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

export interface ForkResult {
  /** Kept and listed like any snapshot: more sandboxes can start from it later. */
  snapshot: SnapshotInfo;
  sandboxes: SandboxRecord[];
  /** The creates that failed; each removed what it had made. */
  failures: { name: string; code: SandboxErrorCode | 'internal'; error: string }[];
}

export interface SandboxSnapshotsDeps {
  store: StateStore;
  providers: ProviderSet;
  events: EventBus;
  resolve(ref: string): Promise<SandboxRecord>;
  /** The plain create, which takes the snapshot's image and profile as given. */
  create(options: CreateOptions): Promise<SandboxRecord>;
}

/** Snapshots of sandboxes, sandboxes made from them, and forks (a snapshot and several sandboxes from it at once). */
export class SandboxSnapshots {
  constructor(private readonly deps: SandboxSnapshotsDeps) {}

  /** Keeps a copy of the sandbox's filesystem under a name new sandboxes can start from. */
  async snapshot(ref: string, options: SnapshotOptions = {}): Promise<SnapshotInfo> {
    const record = await this.deps.resolve(ref);
    assertUsable(record, false);
    const name = options.name ?? `${record.name}-${timestamp()}`;
    validateSnapshotName(name);
    const provider = this.deps.providers.get(record.provider);
    if (!provider.snapshot) {
      throw new SandboxError(
        'invalid-input',
        `${record.name} runs on the ${record.provider} provider, which cannot take snapshots yet; snapshot a Docker sandbox.`,
      );
    }
    // Names are unique over every provider of this state dir, not only the one asked.
    if ((await this.list()).some((snapshot) => snapshot.name === name)) throw nameTaken(name);
    const snapshot = await provider.snapshot(record.providerRef!, { name, note: options.note, signal: options.signal });
    await this.deps.events.emit({
      type: 'sandbox.snapshotted',
      sandboxId: record.id,
      name: record.name,
      snapshot: snapshot.name,
      provider: record.provider,
      providerRef: snapshot.providerRef,
    });
    return snapshot;
  }

  /** Every snapshot of this state dir, oldest first, with the sandboxes made from each. */
  async list(): Promise<SnapshotEntry[]> {
    const ownerId = await this.deps.store.ownerId();
    const records = await this.deps.store.listRecords();
    const entries: SnapshotEntry[] = [];
    for (const [kind, provider] of this.deps.providers.entries()) {
      if (!provider.listSnapshots) continue;
      for (const snapshot of await provider.listSnapshots(ownerId)) {
        const usedBy = records
          .filter((record) => record.provider === kind && record.profile.image === snapshot.image && record.placement?.host === snapshot.host)
          .map((record) => record.name);
        entries.push({ ...snapshot, usedBy });
      }
    }
    return entries.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  }

  async find(name: string): Promise<SnapshotEntry> {
    const found = (await this.list()).find((snapshot) => snapshot.name === name);
    if (!found) throw new SandboxError('not-found', `No snapshot is named ${name}; see \`sandbox snapshots\` for the list.`);
    return found;
  }

  /** Removes a snapshot that no sandbox of this state dir runs. */
  async remove(name: string): Promise<SnapshotEntry> {
    const snapshot = await this.find(name);
    if (snapshot.usedBy.length > 0) throw inUseError(snapshot);
    await this.provider(snapshot).removeSnapshot!(snapshot.providerRef);
    return snapshot;
  }

  /** Removes all but the newest `keep` snapshots, or only those older than `maxAgeDays`, or both; snapshots in use stay. */
  async prune(options: PruneSnapshotsOptions, now = Date.now()): Promise<PruneSnapshotsResult> {
    const { keep, maxAgeDays } = options;
    if (keep === undefined && maxAgeDays === undefined) {
      throw new SandboxError('invalid-input', 'Say which snapshots to prune: --keep N (the newest N stay), --max-age-days D (older ones go), or both.');
    }
    if (keep !== undefined && (!Number.isInteger(keep) || keep < 0)) {
      throw new SandboxError('invalid-input', `Keep ${keep} is not a count; give a whole number of snapshots, 0 or more.`);
    }
    if (maxAgeDays !== undefined && (!Number.isFinite(maxAgeDays) || maxAgeDays < 0)) {
      throw new SandboxError('invalid-input', `${maxAgeDays} is not an age; give a number of days, 0 or more.`);
    }
    const newestFirst = (await this.list()).reverse();
    const candidates = newestFirst
      .slice(keep ?? 0)
      .filter((snapshot) => maxAgeDays === undefined || now - Date.parse(snapshot.createdAt) > maxAgeDays * DAY_MS);
    const result: PruneSnapshotsResult = { removed: [], inUse: [] };
    for (const snapshot of candidates) {
      if (options.signal?.aborted) break;
      const holder = options.heldBy?.(snapshot.name);
      if (snapshot.usedBy.length > 0 || holder !== undefined) {
        result.inUse.push(holder === undefined ? snapshot : { ...snapshot, usedBy: [...snapshot.usedBy, holder] });
        continue;
      }
      await this.provider(snapshot).removeSnapshot!(snapshot.providerRef);
      result.removed.push(snapshot);
    }
    return result;
  }

  /**
   * A create from a snapshot: its image, its profile unless the options say otherwise, and (from
   * the plain create) new host and client keys, pinned like those of any new sandbox.
   */
  async create(options: CreateOptions & { fromSnapshot: string }): Promise<SandboxRecord> {
    const snapshot = await this.find(options.fromSnapshot);
    if (options.provider !== undefined && options.provider !== snapshot.provider) {
      throw new SandboxError(
        'invalid-input',
        `The snapshot ${snapshot.name} is on the ${snapshot.provider} provider; leave out --provider or use ${snapshot.provider}.`,
      );
    }
    if (options.host !== undefined && options.host !== snapshot.host) {
      throw new SandboxError(
        'invalid-input',
        `The snapshot ${snapshot.name} is kept ${snapshot.host ? `on the host ${snapshot.host}` : 'on this machine'}; leave out --host.`,
      );
    }
    if (options.profile?.image !== undefined) {
      throw new SandboxError('invalid-input', 'A sandbox made from a snapshot runs the snapshot; leave out --image.');
    }
    const overrides = Object.fromEntries(Object.entries(options.profile ?? {}).filter(([, value]) => value !== undefined));
    return this.deps.create({
      ...options,
      provider: snapshot.provider,
      host: snapshot.host,
      profile: { ...snapshot.profile, ...overrides, image: snapshot.image },
      buildImageIfMissing: false,
    });
  }

  /**
   * Snapshots the sandbox once (`<sandbox>-fork-<time>`, kept), then makes `count` sandboxes from
   * it, a few at a time. Each failed create removes what it made and is reported; the others stay.
   */
  async fork(ref: string, options: ForkOptions): Promise<ForkResult> {
    const { count } = options;
    if (!Number.isInteger(count) || count < 1 || count > MAX_FORK_COUNT) {
      throw new SandboxError('invalid-input', `A fork makes 1 to ${MAX_FORK_COUNT} sandboxes; ${count} is not in that range.`);
    }
    const origin = await this.deps.resolve(ref);
    const snapshot = await this.snapshot(origin.id, { name: `${origin.name}-fork-${timestamp()}`, signal: options.signal });
    const limit = createLimiter(FORK_PARALLELISM);
    const names = Array.from({ length: count }, () => forkName(origin.name));
    const outcomes = await Promise.allSettled(
      names.map((name) =>
        limit(() =>
          this.create({
            name,
            agentId: options.agentId ?? origin.agentId,
            fromSnapshot: snapshot.name,
            signal: options.signal,
            onProgress: options.onProgress,
          }),
        ),
      ),
    );
    const result: ForkResult = { snapshot, sandboxes: [], failures: [] };
    outcomes.forEach((outcome, index) => {
      if (outcome.status === 'fulfilled') result.sandboxes.push(outcome.value);
      else {
        const error: unknown = outcome.reason;
        result.failures.push({ name: names[index]!, code: isSandboxError(error) ? error.code : 'internal', error: describeError(error) });
      }
    });
    return result;
  }

  private provider(snapshot: SnapshotInfo) {
    const provider = this.deps.providers.get(snapshot.provider);
    if (!provider.removeSnapshot) throw new SandboxError('invalid-input', `The ${snapshot.provider} provider cannot remove snapshots.`);
    return provider;
  }
}

function nameTaken(name: string): SandboxError {
  return new SandboxError('conflict', `A snapshot named ${name} already exists; pick another name or remove it with \`sandbox snapshots rm ${name}\`.`);
}

function inUseError(snapshot: SnapshotEntry): SandboxError {
  return new SandboxError(
    'wrong-state',
    `The snapshot ${snapshot.name} is the image of ${snapshot.usedBy.join(', ')}; remove ${snapshot.usedBy.length === 1 ? 'that sandbox' : 'those sandboxes'} first (\`sandbox rm ${snapshot.usedBy.join(' ')}\`).`,
  );
}

/** yyyymmdd-hhmmss in UTC: sorts as it reads, and is the same wherever it is read. */
function timestamp(date = new Date()): string {
  const iso = date.toISOString(); // 2026-12-05T18:13:33.000Z
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
}

/** `<origin>-<6 hex>`, the origin's part cut so the whole stays a valid sandbox name. */
function forkName(origin: string): string {
  const suffix = randomBytes(3).toString('hex');
  const stem = origin.slice(0, MAX_NAME_LENGTH - suffix.length - 1).replace(/-+$/, '');
  return `${stem}-${suffix}`;
}
